// Gateway API hostname intersection and hostname syntax.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hostnameProblem, intersectHostname, routeHostnamesOn } from '../../src/config/hostname';

test('intersectHostname', () => {
  const cases: { desc: string; route: string; listener: string; expected: string | undefined }[] = [
    { desc: 'equal exact', route: 'a.example.com', listener: 'a.example.com', expected: 'a.example.com' },
    { desc: 'different exact', route: 'a.example.com', listener: 'b.example.com', expected: undefined },
    { desc: 'route wildcard, listener exact under it', route: '*.example.com', listener: 'foo.example.com', expected: 'foo.example.com' },
    { desc: 'wildcard spans several labels', route: '*.example.com', listener: 'a.b.example.com', expected: 'a.b.example.com' },
    { desc: 'wildcard does not match the bare domain', route: '*.example.com', listener: 'example.com', expected: undefined },
    { desc: 'route exact under listener wildcard', route: 'foo.example.com', listener: '*.example.com', expected: 'foo.example.com' },
    { desc: 'suffix must be on a label boundary', route: 'fooexample.com', listener: '*.example.com', expected: undefined },
    { desc: 'equal wildcards', route: '*.example.com', listener: '*.example.com', expected: '*.example.com' },
    { desc: 'route wildcard more specific', route: '*.a.example.com', listener: '*.example.com', expected: '*.a.example.com' },
    { desc: 'listener wildcard more specific', route: '*.example.com', listener: '*.a.example.com', expected: '*.a.example.com' },
    { desc: 'unrelated wildcards', route: '*.example.com', listener: '*.example.org', expected: undefined },
  ];
  for (const c of cases) assert.equal(intersectHostname(c.route, c.listener), c.expected, c.desc);
});

test('routeHostnamesOn', () => {
  const cases: { desc: string; route: string[]; listener: string | undefined; expected: string[] | undefined }[] = [
    { desc: 'no hostnames anywhere', route: [], listener: undefined, expected: [] },
    { desc: 'listener any', route: ['a.example.com'], listener: undefined, expected: ['a.example.com'] },
    { desc: 'route any inherits the listener', route: [], listener: '*.example.com', expected: ['*.example.com'] },
    { desc: 'some intersect', route: ['a.example.com', 'b.example.org'], listener: '*.example.com', expected: ['a.example.com'] },
    { desc: 'none intersect', route: ['b.example.org'], listener: '*.example.com', expected: undefined },
    { desc: 'deduplicated', route: ['*.example.com', 'foo.example.com'], listener: 'foo.example.com', expected: ['foo.example.com'] },
  ];
  for (const c of cases) assert.deepStrictEqual(routeHostnamesOn(c.route, c.listener), c.expected, c.desc);
});

test('hostnameProblem', () => {
  const cases: { desc: string; host: string; ok: boolean }[] = [
    { desc: 'exact', host: 'api.example.com', ok: true },
    { desc: 'wildcard', host: '*.example.com', ok: true },
    { desc: 'single label', host: 'localhost', ok: true },
    { desc: 'underscore', host: 'a_b.example.com', ok: false },
    { desc: 'bare star', host: '*', ok: false },
    { desc: 'star in the middle', host: 'a.*.example.com', ok: false },
    { desc: 'IP address', host: '10.0.0.1', ok: false },
    { desc: 'trailing dot', host: 'example.com.', ok: false },
    { desc: 'too long', host: `${'a'.repeat(60)}.`.repeat(5) + 'com', ok: false },
  ];
  for (const c of cases) assert.equal(hostnameProblem(c.host) === undefined, c.ok, c.desc);
});
