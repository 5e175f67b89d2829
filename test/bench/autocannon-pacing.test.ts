import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  AUTOCANNON_VERSION,
  AutocannonVersionError,
  checkAutocannonVersion,
  installAutocannonPacing,
  installedAutocannonVersion,
} from '../../bench/harness/autocannon-pacing';
import { runAutocannonOpenLoop } from '../../bench/harness/open-loop-autocannon';

// ---- the version check (pure) ----

const versions: { desc: string; found: string; ok: boolean }[] = [
  { desc: 'the version the override was written for', found: '9.0.0', ok: true },
  { desc: 'a patch release (its httpClient.js may differ)', found: '9.0.1', ok: false },
  { desc: 'a minor release', found: '9.1.0', ok: false },
  { desc: 'a major release', found: '10.0.0', ok: false },
  { desc: 'an older one', found: '8.0.0', ok: false },
  { desc: 'a prerelease of the same number', found: '9.0.0-rc.1', ok: false },
  { desc: 'no version at all', found: '', ok: false },
];

for (const c of versions) {
  test(`checkAutocannonVersion: ${c.desc} (${c.found || 'empty'}) is ${c.ok ? 'accepted' : 'refused'}`, () => {
    if (c.ok) return checkAutocannonVersion(c.found);
    assert.throws(
      () => checkAutocannonVersion(c.found),
      (e: unknown) =>
        e instanceof AutocannonVersionError &&
        e.message.includes(`autocannon ${c.found || '(no version)'} is installed`) &&
        e.message.includes(`autocannon@${AUTOCANNON_VERSION}`) &&
        e.message.includes('--open-loop-generator paced'),
    );
  });
}

test('the installed autocannon is the one the override was written for (package.json)', () => {
  assert.equal(installedAutocannonVersion(), AUTOCANNON_VERSION);
});

test('installAutocannonPacing refuses another version, and installs over the client autocannon itself uses', () => {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const Client = require('autocannon/lib/httpClient') as { prototype: { _doRequest: unknown } };
  const original = Client.prototype._doRequest;
  assert.throws(() => installAutocannonPacing('9.1.0'), AutocannonVersionError);
  assert.equal(Client.prototype._doRequest, original, 'nothing replaced on refusal');
  installAutocannonPacing();
  assert.notEqual(Client.prototype._doRequest, original);
  // lib/run.js requires './httpClient': the same cached module, so its clients get the override.
  const runDir = require.resolve('autocannon/lib/run').replace(/run\.js$/, '');
  assert.equal(require.cache[`${runDir}httpClient.js`]?.exports, Client);
});

test('a run is refused when node_modules holds another autocannon version', async () => {
  // installedAutocannonVersion reads autocannon/package.json through require's cache: pretend an upgrade.
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const pkg = require('autocannon/package.json') as { version: string };
  const real = pkg.version;
  pkg.version = '9.2.0';
  try {
    await assert.rejects(
      runAutocannonOpenLoop({ request: { port: 9, method: 'GET', path: '/', headers: {} }, rate: 10, durationMs: 100, warmupMs: 0, connections: 1 }),
      (e: unknown) => e instanceof AutocannonVersionError && /autocannon 9\.2\.0 is installed/.test(e.message),
    );
  } finally {
    pkg.version = real;
  }
});
