// Reads YAML config files into documents that remember where every node came from, so any
// problem found later (schema or cross-field) can be reported as file:line: field.
import fs from 'node:fs';
import { isAlias, isMap, isPair, isScalar, isSeq, LineCounter, parseAllDocuments } from 'yaml';
import type { Document, Node as YamlNode } from 'yaml';
import type { Diagnostics } from './config-error';

/** One YAML document of a config file, as plain JS plus the node tree for line lookups. */
export interface SourceDoc {
  /** The path as the user gave it (joined with the directory), used in messages. */
  file: string;
  /** Plain JS value of the document (null for an empty document). */
  value: unknown;
  /** 1-based line where the document's content starts. */
  line: number;
  /** 1-based line of the deepest existing node on `path` (a map key's line for map entries). */
  lineOf(path: readonly (string | number)[]): number;
}

// Aliases can fan a small file out into a huge value ("billion laughs"); yaml's own guard.
const MAX_ALIAS_COUNT = 100;

/**
 * Parses every document of `file`. YAML syntax errors (including duplicate keys, which YAML 1.2
 * forbids) are fatal: nothing in a file that does not parse is trusted. Returns [] on error.
 */
export function readYamlFile(file: string, diag: Diagnostics): SourceDoc[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    diag.addFatal(file, 1, '(file)', `cannot read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    return [];
  }
  return parseYamlText(file, text, diag);
}

/** Same as readYamlFile for text already in memory (tests, embedded config). */
export function parseYamlText(file: string, text: string, diag: Diagnostics): SourceDoc[] {
  const lineCounter = new LineCounter();
  const parsed = parseAllDocuments(text, { lineCounter, prettyErrors: false });
  const docs: Document[] = Array.isArray(parsed) ? parsed : [];
  const lineAt = (offset: number): number => lineCounter.linePos(offset).line || 1;
  let bad = false;
  for (const doc of docs) {
    for (const err of doc.errors) {
      bad = true;
      diag.addFatal(file, lineAt(err.pos[0]), '(yaml)', firstLine(err.message));
    }
  }
  if (bad) return [];
  const out: SourceDoc[] = [];
  for (const doc of docs) {
    if (doc.contents === null) continue; // `---` with nothing after it, or only comments
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
    } catch (err) {
      diag.addFatal(file, lineAt(doc.contents.range?.[0] ?? 0), '(yaml)', firstLine((err as Error).message));
      continue;
    }
    if (value === null || value === undefined) continue;
    const root = doc.contents as YamlNode;
    const line = lineAt(root.range?.[0] ?? 0);
    out.push({
      file,
      value,
      line,
      lineOf: (path) => lineOfPath(doc, root, path, line, lineAt),
    });
  }
  return out;
}

function firstLine(message: string): string {
  const i = message.indexOf('\n');
  return (i < 0 ? message : message.slice(0, i)).trim();
}

function lineOfPath(
  doc: Document,
  root: YamlNode,
  path: readonly (string | number)[],
  fallback: number,
  lineAt: (offset: number) => number,
): number {
  let node: unknown = root;
  let line = fallback;
  for (const seg of path) {
    if (isAlias(node)) node = node.resolve(doc);
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && keyText(p.key) === String(seg));
      if (!pair) break;
      const keyNode = pair.key as YamlNode | null;
      if (keyNode && keyNode.range) line = lineAt(keyNode.range[0]);
      node = pair.value;
    } else if (isSeq(node)) {
      const item = node.items[Number(seg)] as YamlNode | undefined;
      if (!item) break;
      if (item.range) line = lineAt(item.range[0]);
      node = item;
    } else {
      break;
    }
  }
  return line;
}

function keyText(key: unknown): string | undefined {
  if (isScalar(key)) return String(key.value);
  return undefined;
}

/** `/routes/0/backends/0/weight` (a TypeBox/JSON pointer) → ['routes', 0, 'backends', 0, 'weight']. */
export function pointerToPath(pointer: string): (string | number)[] {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^(0|[1-9]\d*)$/.test(s) ? Number(s) : s));
}

/** ['routes', 0, 'headers', 'x.y'] → `routes[0].headers["x.y"]`; the form used in every message. */
export function fieldName(path: readonly (string | number)[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (/^[A-Za-z_$][\w$-]*$/.test(seg)) out += out === '' ? seg : `.${seg}`;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}
