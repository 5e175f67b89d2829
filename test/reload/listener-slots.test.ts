import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { GatewayConfig } from '../../src/config/model';
import { groupListeners } from '../../src/proxy';
import { createListenerSlots } from '../../src/reload/listener-slots';

function cfg(listeners: [string, number][]): GatewayConfig {
  return { listeners: listeners.map(([name, port]) => ({ name, address: '127.0.0.1', port, protocol: 'HTTP', routes: [] })), backends: {}, sources: [], warnings: [] };
}

describe('listener slots', () => {
  it('keeps slots and bound ports of unchanged groups, opens new ones, never reuses a slot', () => {
    const slots = createListenerSlots();
    const c1 = cfg([['web', 8080], ['api', 0]]);
    const p1 = slots.plan(groupListeners(c1), c1);
    assert.deepEqual(p1.added.map((g) => g.slot), [0, 1]);
    p1.added[1].port = 40001; // resolved by the caller
    slots.commit(p1);

    // `web2` shares web's port: same group. `api` (port 0) keeps its bound port. `admin` is new.
    const c2 = cfg([['api', 0], ['web', 8080], ['web2', 8080], ['admin', 9000]]);
    const p2 = slots.plan(groupListeners(c2), c2);
    assert.deepEqual(p2.groups.map((g) => [g.key, g.slot, g.port]), [['127.0.0.1:0/api', 1, 40001], ['127.0.0.1:8080', 0, 8080], ['127.0.0.1:9000', 2, 9000]]);
    assert.deepEqual(p2.added.map((g) => g.slot), [2]);
    assert.deepEqual(p2.removed, []);
    slots.commit(p2);

    const c3 = cfg([['api', 0], ['admin2', 9001]]);
    const p3 = slots.plan(groupListeners(c3), c3);
    assert.deepEqual(p3.removed.map((g) => g.slot).sort(), [0, 2]);
    assert.deepEqual(p3.added.map((g) => g.slot), [3]);
    slots.commit(p3);
    assert.deepEqual(slots.active.map((g) => g.slot), [1, 3]);
  });

  it('plans without committing', () => {
    const slots = createListenerSlots();
    const c = cfg([['web', 80]]);
    slots.plan(groupListeners(c), c);
    assert.deepEqual(slots.active, []);
    assert.deepEqual(slots.plan(groupListeners(c), c).added.map((g) => g.slot), [0]);
  });
});
