import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { createConfigWatcher } from '../../src/reload/config-watcher';
import { tempDir } from '../helpers/gateway';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function watchCount(target: string, act: () => Promise<void>): Promise<number> {
  let n = 0;
  const w = createConfigWatcher(target, { debounceMs: 50, onChange: () => n++, onError: (e) => assert.fail(e) });
  try {
    await act();
    await sleep(300);
    return n;
  } finally {
    w.close();
  }
}

describe('config watcher', () => {
  it('folds a burst of writes into one change, including a rename over the file', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'gatemesh.yaml');
    fs.writeFileSync(file, 'a: 1\n');
    const n = await watchCount(file, async () => {
      for (let i = 0; i < 5; i++) fs.writeFileSync(file, `a: ${i}\n`);
      fs.writeFileSync(file + '.tmp', 'a: 9\n');
      fs.renameSync(file + '.tmp', file);
    });
    assert.equal(n, 1);
    // After a rename the watch still sees the next save.
    assert.equal(await watchCount(file, async () => fs.writeFileSync(file, 'a: 10\n')), 1);
  });

  it('ignores other files next to a watched file; a directory counts *.yaml and *.yml only', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'gatemesh.yaml');
    fs.writeFileSync(file, 'a: 1\n');
    assert.equal(await watchCount(file, async () => fs.writeFileSync(path.join(dir, 'access.log'), 'x\n')), 0);
    assert.equal(await watchCount(dir, async () => fs.writeFileSync(path.join(dir, 'notes.txt'), 'x\n')), 0);
    assert.equal(await watchCount(dir, async () => fs.writeFileSync(path.join(dir, 'routes.yml'), 'x: 1\n')), 1);
  });
});

describe('config watcher: which files', () => {
  it('names the changed config files of a directory, or says it cannot (null)', async () => {
    const dir = tempDir();
    const seen: (Set<string> | null)[] = [];
    const w = createConfigWatcher(dir, { debounceMs: 50, onChange: (files) => seen.push(files), onError: (e) => assert.fail(e) });
    try {
      fs.writeFileSync(path.join(dir, 'a.yaml'), 'a: 1\n');
      fs.writeFileSync(path.join(dir, 'b.yml'), 'b: 1\n');
      await sleep(300);
      fs.writeFileSync(path.join(dir, '..data'), 'x'); // a ConfigMap-style swap names no config file
      await sleep(300);
    } finally {
      w.close();
    }
    assert.equal(seen.length, 2);
    assert.deepEqual([...(seen[0] ?? [])].sort(), [path.join(dir, 'a.yaml'), path.join(dir, 'b.yml')]);
    assert.equal(seen[1], null);
  });
});
