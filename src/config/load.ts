// Config loading: reads a file or a directory of YAML files (native format and/or Gateway API
// manifests), compiles both into one GatewayConfig, and cross-checks what spans files.
import fs from 'node:fs';
import path from 'node:path';
import type { GatewayConfig, Listener } from './model';
import { AggregateConfigError, ConfigError, Diagnostics } from './config-error';
import { readYamlFile } from './yaml-source';
import { compileManifestsIncremental, type ConfigCache } from './manifest-memo';
import type { SourceDoc } from './yaml-source';
import { compileNative } from './native';
import { compileGatewayApi, isManifest } from './gateway-api';
import type { CompiledPart } from './compiled-part';

/**
 * examples/gatemesh.yaml at the repo root: the config `npm start` serves when none is given.
 * Compiled code runs from dist/src/config/, sources (ts-node, tests of tests) from src/config/.
 */
export const DEFAULT_CONFIG_PATH: string = path.resolve(
  __dirname,
  path.basename(path.resolve(__dirname, '../..')) === 'dist' ? '../../..' : '../..',
  'examples/gatemesh.yaml',
);

export interface LoadResult {
  config: GatewayConfig;
  /**
   * Names of native backends declared `builtin: demo`. Their Backend has `endpoints: []` in
   * `config.backends`; the caller starts the demo upstream and fills in its address.
   */
  demoBackends: string[];
}

interface Built {
  config: GatewayConfig;
  demoBackends: string[];
  diag: Diagnostics;
}

/**
 * Loads `target`: a file, or a directory (every *.yaml / *.yml in it, sorted, non-recursive).
 *
 * Throws a ConfigError when the config cannot be served as written: YAML syntax errors, any
 * native-format error, an invalid GatewayClass or Gateway, a listener-level conflict, or no
 * listener at all. With several such errors it throws an AggregateConfigError (a ConfigError
 * whose message lists them all, `.errors` holding each).
 *
 * Invalid HTTPRoutes, Services, EndpointSlices and ReferenceGrants do not fail the load: they
 * are left out and reported in `config.warnings` as lines starting with `error: `.
 */
export function loadConfig(target: string, cache?: ConfigCache): LoadResult {
  const { config, demoBackends, diag } = build(target, cache);
  if (diag.fatal.length === 1) throw diag.fatal[0];
  if (diag.fatal.length > 1) throw new AggregateConfigError(sortErrors(diag.fatal));
  return { config, demoBackends };
}

/**
 * For `gatemesh validate`: every error (fatal ones and dropped objects alike, sorted by file and
 * line) and every warning. Never throws for a bad config.
 */
export function validateConfig(target: string): { errors: ConfigError[]; warnings: string[] } {
  const { diag } = build(target);
  return { errors: sortErrors([...diag.fatal, ...diag.dropped]), warnings: [...diag.warnings] };
}

/**
 * `cache` (hot reload): files unchanged since the previous load are not parsed again, and when
 * only HTTPRoute files changed only those are compiled (src/config/manifest-memo.ts).
 */
function build(target: string, cache?: ConfigCache): Built {
  const diag = new Diagnostics();
  const files = listFiles(target, diag);
  const nativeDocs: SourceDoc[] = [];
  const manifestDocs: SourceDoc[] = [];
  const manifestFiles: { file: string; docs: SourceDoc[] }[] = [];
  for (const file of files) {
    const docs = cache === undefined ? readYamlFile(file, diag) : cache.files.read(file, diag);
    // Detection is per file: any document with apiVersion + kind makes it a manifest file.
    if (docs.some((d) => isManifest(d.value))) {
      manifestDocs.push(...docs);
      manifestFiles.push({ file, docs });
    } else {
      nativeDocs.push(...docs);
    }
  }
  const incremental = cache !== undefined && diag.fatal.length === 0 ? compileManifestsIncremental(manifestFiles, cache.manifests, diag) : null;
  const parts = [compileNative(nativeDocs, diag), incremental ?? compileGatewayApi(manifestDocs, diag)];
  const native = parts[0];

  const config: GatewayConfig = {
    listeners: mergeListeners(parts, diag),
    backends: {},
    sources: files.map((f) => path.resolve(f)),
    warnings: [],
  };
  const backendSource = new Map<string, string>();
  for (const part of parts) {
    for (const { backend, source, field } of part.backends) {
      const first = backendSource.get(backend.name);
      if (first !== undefined) {
        diag.addFatal(source.file, source.line, field, `backend name "${backend.name}" is also defined at ${first}; rename one`);
        continue;
      }
      backendSource.set(backend.name, `${source.file}:${source.line}`);
      config.backends[backend.name] = backend;
    }
  }
  if (config.listeners.length === 0 && diag.fatal.length === 0) {
    diag.addFatal(files[0] ?? target, 1, 'listeners',
      'no listeners to serve: add `listeners:` (native format) or a Gateway whose GatewayClass has ' +
      'spec.controllerName: gatemesh.io/gateway-controller');
  }
  config.warnings = [...sortErrors(diag.dropped).map((e) => `error: ${e.message}`), ...diag.warnings];
  return { config, demoBackends: native.demoBackends, diag };
}

function listFiles(target: string, diag: Diagnostics): string[] {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(target);
  } catch (err) {
    diag.addFatal(target, 1, '(file)', `cannot read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    return [];
  }
  if (!stat.isDirectory()) return [target];
  const files = fs
    .readdirSync(target, { withFileTypes: true })
    .filter((e) => e.isFile() && /\.ya?ml$/i.test(e.name))
    .map((e) => e.name)
    .sort()
    .map((name) => path.join(target, name));
  if (files.length === 0) diag.addFatal(target, 1, '(directory)', 'no *.yaml or *.yml files in this directory');
  return files;
}

/**
 * All listeners, native first. Two listeners on the same address, port (non-zero) and hostname
 * could never both get a request, so that is an error naming both.
 */
function mergeListeners(parts: CompiledPart[], diag: Diagnostics): Listener[] {
  const out: Listener[] = [];
  const names = new Map<string, string>();
  const binds = new Map<string, { name: string; at: string }>();
  for (const part of parts) {
    for (const { listener, source, field } of part.listeners) {
      const at = `${source.file}:${source.line}`;
      const sameName = names.get(listener.name);
      if (sameName !== undefined) {
        diag.addFatal(source.file, source.line, field, `listener name "${listener.name}" is also defined at ${sameName}; rename one`);
        continue;
      }
      names.set(listener.name, at);
      if (listener.port !== 0) {
        const key = `${listener.address}|${listener.port}|${listener.hostname ?? '*'}`;
        const other = binds.get(key);
        if (other) {
          diag.addFatal(source.file, source.line, field,
            `listener "${listener.name}" has the same address, port and hostname as listener "${other.name}" (${other.at}); ` +
            'change the port or give them different hostnames');
          continue;
        }
        binds.set(key, { name: listener.name, at });
      }
      out.push(listener);
    }
  }
  return out;
}

function sortErrors(errors: ConfigError[]): ConfigError[] {
  return [...errors].sort((a, b) => (a.file === b.file ? a.line - b.line : a.file < b.file ? -1 : 1));
}
