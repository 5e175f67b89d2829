// Helpers for hot-reload tests: read the admin endpoints, wait for a config version, write a
// config the way an editor does (new file renamed over the old one).
import fs from 'node:fs';
import path from 'node:path';
import type { RunningGateway } from './gateway';
import { request } from './servers';

export interface AdminConfig {
  version: number;
  hash: string;
  listeners: { address: string; port: number; names: string[] }[];
}

export async function adminConfig(gw: RunningGateway): Promise<AdminConfig> {
  return JSON.parse((await request(gw.adminPort, { path: '/config' })).body) as AdminConfig;
}

export async function adminStats(gw: RunningGateway): Promise<Record<string, number>> {
  return JSON.parse((await request(gw.adminPort, { path: '/stats' })).body) as Record<string, number>;
}

/** Polls /config until its version is at least `version` (5 s at most). */
export async function waitForVersion(gw: RunningGateway, version: number): Promise<AdminConfig> {
  let cfg = await adminConfig(gw);
  for (let i = 0; i < 250 && cfg.version < version; i++) {
    await new Promise((r) => setTimeout(r, 20));
    cfg = await adminConfig(gw);
  }
  if (cfg.version < version) throw new Error(`config version still ${cfg.version}, wanted ${version}; log:\n${gw.stderr()}`);
  return cfg;
}

/** Polls the gateway's log until `re` matches a line (5 s at most); returns that line. */
export async function waitForLog(gw: RunningGateway, re: RegExp): Promise<string> {
  for (let i = 0; i < 250; i++) {
    const line = gw.stderr().split('\n').find((l) => re.test(l));
    if (line !== undefined) return line;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`no log line matching ${re}:\n${gw.stderr()}`);
}

/** Replaces `file` atomically (write a temp file, rename it over), as editors and kubectl do. */
export function replaceFile(file: string, text: string): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, file);
}
