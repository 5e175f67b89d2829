// Which sockets a config needs, and which of them are already open. Each bind address:port (a
// "listener group", src/proxy.ts groupListeners) gets a slot number that never changes while the
// group exists: the front end tags every request with it and the route tables are indexed by it,
// so a reload that adds or removes a group leaves every other group's sockets and in-flight
// requests alone. Slots are never reused (a removed group may still be draining).
import type { GatewayConfig } from '../config/model';
import type { ListenerGroup } from '../proxy';

/** A listener group with its slot and the port it is (or will be) bound to. */
export interface SlotGroup extends ListenerGroup {
  slot: number;
  /** `address:port`, or `address:0/<first listener name>` for port 0 (each port-0 listener binds its own port). */
  key: string;
}

export interface SlotPlan {
  /** Every group of the new config, in config order, with slots; `port` is the bound port where known. */
  groups: SlotGroup[];
  /** Groups to open (their `port` may still be 0: the caller resolves it before binding). */
  added: SlotGroup[];
  /** Groups to drain and close. */
  removed: SlotGroup[];
}

export interface ListenerSlots {
  /** Matches the groups of `config` against the open ones. Pure until `commit`. */
  plan(groups: ListenerGroup[], config: GatewayConfig): SlotPlan;
  commit(plan: SlotPlan): void;
  /** Open groups, in config order. */
  readonly active: SlotGroup[];
}

export function groupKey(g: ListenerGroup, config: GatewayConfig): string {
  return g.port === 0 ? `${g.address}:0/${config.listeners[g.listeners[0]].name}` : `${g.address}:${g.port}`;
}

export function createListenerSlots(): ListenerSlots {
  let active: SlotGroup[] = [];
  let nextSlot = 0;
  return {
    plan(groups, config) {
      const open = new Map(active.map((g) => [g.key, g]));
      let slot = nextSlot;
      const added: SlotGroup[] = [];
      const out = groups.map((g): SlotGroup => {
        const key = groupKey(g, config);
        const old = open.get(key);
        if (old !== undefined) {
          open.delete(key);
          return { ...g, port: old.port, slot: old.slot, key };
        }
        const ng: SlotGroup = { ...g, slot: slot++, key };
        added.push(ng);
        return ng;
      });
      return { groups: out, added, removed: [...open.values()] };
    },
    commit(plan) {
      active = plan.groups;
      for (const g of plan.added) if (g.slot >= nextSlot) nextSlot = g.slot + 1;
    },
    get active() {
      return active;
    },
  };
}
