// The per-file YAML cache used by hot reload: unchanged files are not parsed again, changed
// ones are (even at the same size), and a cached load gives exactly what a fresh load gives.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { loadConfig } from '../../src/config/load';
import { Diagnostics } from '../../src/config/config-error';
import { createConfigCache } from '../../src/config/manifest-memo';
import { createYamlCache } from '../../src/config/yaml-cache';
import { tempDir } from '../helpers/gateway';

const LISTENERS = 'listeners:\n  - name: web\n    port: 8080\n';
const routes = (p: string) => `routes:\n  - name: r\n    match: { path: ${p} }\n    backend: b\nbackends:\n  - name: b\n    endpoints: ["127.0.0.1:1"]\n`;

describe('yaml cache', () => {
  it('parses only changed, added files; counts removed ones; same result as a fresh load', () => {
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, 'a.yaml'), LISTENERS);
    fs.writeFileSync(path.join(dir, 'b.yaml'), routes('/one'));
    const cache = createConfigCache();
    const steps: { desc: string; edit: () => void; want: { parsed: number; removed: number }; prefix: string }[] = [
      { desc: 'first load', edit: () => {}, want: { parsed: 2, removed: 0 }, prefix: '/one' },
      { desc: 'nothing changed', edit: () => {}, want: { parsed: 0, removed: 0 }, prefix: '/one' },
      { desc: 'same-size edit', edit: () => fs.writeFileSync(path.join(dir, 'b.yaml'), routes('/two')), want: { parsed: 1, removed: 0 }, prefix: '/two' },
      { desc: 'touched, same content', edit: () => fs.utimesSync(path.join(dir, 'b.yaml'), new Date(), new Date(Date.now() + 5000)), want: { parsed: 0, removed: 0 }, prefix: '/two' },
      {
        desc: 'file moved',
        edit: () => fs.renameSync(path.join(dir, 'b.yaml'), path.join(dir, 'c.yaml')),
        want: { parsed: 1, removed: 1 },
        prefix: '/two',
      },
    ];
    for (const s of steps) {
      s.edit();
      const cached = loadConfig(dir, cache);
      const stats = cache.files.endLoad();
      assert.deepEqual({ parsed: stats.parsed, removed: stats.removed }, s.want, s.desc);
      assert.deepEqual(cached.config, loadConfig(dir).config, s.desc);
      assert.equal(cached.config.listeners[0].routes[0].rules[0].matches[0].path.value, s.prefix, s.desc);
    }
    assert.equal(cache.files.size, 2);
  });

  it('does not cache a file that fails to parse', () => {
    const dir = tempDir();
    const file = path.join(dir, 'x.yaml');
    fs.writeFileSync(file, 'a: [\n');
    const cache = createYamlCache();
    const diag = new Diagnostics();
    assert.deepEqual(cache.read(file, diag), []);
    assert.equal(diag.fatal.length, 1);
    cache.endLoad();
    assert.equal(cache.size, 0);
    const again = new Diagnostics();
    cache.read(file, again);
    assert.equal(again.fatal.length, 1, 'the error is reported again');
  });
});

describe('yaml cache: change hints', () => {
  it('checks only the files the watch named, for one load', () => {
    const dir = tempDir();
    const a = path.join(dir, 'a.yaml');
    const b = path.join(dir, 'b.yaml');
    fs.writeFileSync(a, 'a: 1\n');
    fs.writeFileSync(b, 'b: 1\n');
    const cache = createYamlCache();
    const value = (file: string) => (cache.read(file, new Diagnostics())[0].value as Record<string, number>);
    value(a);
    value(b);
    cache.endLoad();
    fs.writeFileSync(a, 'a: 2\n');
    fs.writeFileSync(b, 'b: 2\n');
    cache.expectChanges(new Set([a]));
    assert.equal(value(a).a, 2);
    assert.equal(value(b).b, 1, 'not named: reused without a stat');
    assert.deepEqual(cache.endLoad(), { reused: 1, rehashed: 0, parsed: 1, removed: 0 });
    // The hint lasted one load: the next one checks every file.
    assert.equal(value(b).b, 2);
    cache.endLoad();
  });
});
