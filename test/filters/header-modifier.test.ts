// RequestHeaderModifier / ResponseHeaderModifier: set/add/remove semantics and config checks.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { HeaderModifier } from '../../src/config/model';
import { runRequestFilters } from '../../src/filters/chain';
import { checkHeaderModifier, createRequestHeaderModifier, createResponseHeaderModifier } from '../../src/filters/header-modifier/header-modifier';
import { freq, lines } from './helpers';

const mod = (m: Partial<HeaderModifier>): HeaderModifier => ({ set: [], add: [], remove: [], ...m });

describe('header modifier: apply', () => {
  const cases: { desc: string; spec: HeaderModifier; input: string[]; want: string[] }[] = [
    { desc: 'set overwrites every existing value', spec: mod({ set: [{ name: 'My-Header', value: 'bar' }] }), input: ['my-header', 'foo', 'x', '1', 'my-header', 'foo2'], want: ['x: 1', 'my-header: bar'] },
    { desc: 'set adds a missing header', spec: mod({ set: [{ name: 'x-new', value: 'v' }] }), input: ['a', '1'], want: ['a: 1', 'x-new: v'] },
    { desc: 'add appends after existing values', spec: mod({ add: [{ name: 'my-header', value: 'bar,baz' }] }), input: ['my-header', 'foo'], want: ['my-header: foo', 'my-header: bar,baz'] },
    { desc: 'remove drops every field of the name, case-insensitively', spec: mod({ remove: ['My-Header1', 'my-header3'] }), input: ['my-header1', 'foo', 'my-header2', 'bar', 'my-header3', 'baz', 'my-header1', 'again'], want: ['my-header2: bar'] },
    { desc: 'set, add and remove together', spec: mod({ set: [{ name: 'a', value: 'A' }], add: [{ name: 'b', value: 'B' }], remove: ['c'] }), input: ['a', 'old', 'b', 'old', 'c', 'gone'], want: ['b: old', 'a: A', 'b: B'] },
    { desc: 'nothing to do leaves the list alone', spec: mod({ remove: ['absent'] }), input: ['a', '1'], want: ['a: 1'] },
  ];
  for (const c of cases) {
    it(`request: ${c.desc}`, () => {
      const input = c.input.slice();
      const req = freq({ headers: input });
      const f = createRequestHeaderModifier(c.spec);
      const r = runRequestFilters({ request: [f], response: [], editsRequestHeaders: true }, req);
      assert.equal(r.kind, 'continue');
      assert.deepEqual(lines(req.headers), c.want);
      assert.deepEqual(input, c.input, 'the client header list is never edited (copy-on-write)');
    });
    it(`response: ${c.desc}`, () => {
      const h = c.input.slice();
      createResponseHeaderModifier(c.spec).onResponse!(200, h, freq());
      assert.deepEqual(lines(h), c.want);
    });
  }

  it('request set/add of Host rewrites the Host sent upstream, not a second field', () => {
    const req = freq({ host: 'client.example', headers: ['x', '1'] });
    runRequestFilters({ request: [createRequestHeaderModifier(mod({ set: [{ name: 'Host', value: 'backend.internal' }] }))], response: [], editsRequestHeaders: true }, req);
    assert.equal(req.host, 'backend.internal');
    assert.deepEqual(lines(req.headers), ['x: 1']);
  });
});

describe('header modifier: config checks', () => {
  const cases: { desc: string; spec: HeaderModifier; phase?: 'request' | 'response'; want: RegExp | null }[] = [
    { desc: 'valid', spec: mod({ set: [{ name: 'x-a', value: '1' }], add: [{ name: 'x-b', value: '2' }], remove: ['x-c'] }), want: null },
    { desc: 'same name in set and remove', spec: mod({ set: [{ name: 'X-A', value: '1' }], remove: ['x-a'] }), want: /only one action per header name/ },
    { desc: 'same name twice in add (case-insensitive)', spec: mod({ add: [{ name: 'x-a', value: '1' }, { name: 'X-a', value: '2' }] }), want: /already has an action/ },
    { desc: 'invalid header name', spec: mod({ set: [{ name: 'bad name', value: '1' }] }), want: /invalid header name/ },
    { desc: 'empty value', spec: mod({ set: [{ name: 'x', value: '' }] }), want: /non-empty/ },
    { desc: 'CR/LF in a value', spec: mod({ add: [{ name: 'x', value: 'a\r\nb: c' }] }), want: /control characters/ },
    { desc: 'framing header', spec: mod({ set: [{ name: 'Content-Length', value: '5' }] }), want: /framing header/ },
    { desc: 'removing Host', spec: mod({ remove: ['host'] }), want: /Host cannot be removed/ },
    { desc: 'Host on a response', spec: mod({ set: [{ name: 'host', value: 'x' }] }), phase: 'response', want: /not a response header/ },
    { desc: 'more than 16 items', spec: mod({ remove: Array.from({ length: 17 }, (_, i) => 'x-' + i) }), want: /at most 16/ },
  ];
  for (const c of cases) {
    it(c.desc, () => {
      const problems = checkHeaderModifier(c.spec, c.phase ?? 'request');
      if (c.want === null) assert.deepEqual(problems, []);
      else assert.match(problems.map((p) => p.what).join('\n'), c.want);
    });
  }
});
