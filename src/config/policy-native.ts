// Native-format traffic policies: named entries of the top-level `policies:` list, referenced
// from listeners, routes and backends by `policy: <name>` / `policies: [<names>]`, or written
// inline as `policy: { <sections> }` (Traefik-style: middlewares are defined once and named by
// routers). A route's section comes from its own policies, else its listener's; a backend's from
// its own, else from the routes that reference it (the first declared policy wins a conflict).
import type { Backend } from './model';
import type * as P from './policy-schema';
import { BackendPolicies, compilePolicy, sectionMap, type CompiledPolicy, type Problem, type SectionMap } from './policy';

export interface NativePolicyEntry {
  item: P.NativePolicy;
  file: string;
  /** Line of the entry. */
  line: number;
  /** Reports a problem at a path below the entry (fatal, as every native error). */
  bad: Problem;
}

/** What carries policy references: a native listener, route or backend. */
export interface NativeOwner {
  kind: 'listener' | 'route' | 'backend';
  name: string;
  refs: { policy?: string | P.PolicyBody; policies?: string[] };
  file: string;
  /** Line of `policy:` (for an inline policy's messages). */
  line: number;
}

export interface NativePolicies {
  /** The owner's policies by section, or undefined when it names none; problems go to `bad`. */
  attach(owner: NativeOwner, bad: Problem): SectionMap | undefined;
  /** Route-derived backend sections (route chains claim their backends). */
  readonly backends: BackendPolicies;
  /** Sets `backend.policy` from its own map and the routes' claims; `warn(file, line, what)`. */
  finishBackend(backend: Backend, own: SectionMap | undefined, warn: (file: string, line: number, what: string) => void): void;
}

export function createNativePolicies(entries: NativePolicyEntry[]): NativePolicies {
  const named = new Map<string, CompiledPolicy>();
  entries.forEach((e, rank) => {
    const { name, ...body } = e.item;
    const first = named.get(name);
    if (first !== undefined) {
      e.bad(['name'], `duplicate policy name "${name}" (first at ${first.file}:${first.line}); policy names must be unique`);
      return;
    }
    named.set(name, compilePolicy({ id: name, label: `policy "${name}"`, file: e.file, line: e.line, rank }, body, e.bad));
  });
  // Inline policies rank after every named one, in the order they are met.
  let inlineRank = entries.length;
  const backends = new BackendPolicies();
  const said = new Set<string>();

  return {
    backends,

    attach(owner, bad) {
      const list: CompiledPolicy[] = [];
      const byName = (name: string, path: (string | number)[]): void => {
        const p = named.get(name);
        if (p === undefined) bad(path, `no policy named "${name}" (known: ${[...named.keys()].join(', ') || 'none; define them under `policies:`'})`);
        else if (!list.includes(p)) list.push(p);
      };
      const { policy, policies } = owner.refs;
      if (typeof policy === 'string') byName(policy, ['policy']);
      else if (policy !== undefined) {
        const head = {
          id: `${owner.kind}/${owner.name}`,
          label: `the inline policy of ${owner.kind} "${owner.name}"`,
          file: owner.file,
          line: owner.line,
          rank: inlineRank++,
        };
        list.push(compilePolicy(head, policy, (path, what) => bad(['policy', ...path], what)));
      }
      policies?.forEach((name, i) => byName(name, ['policies', i]));
      if (list.length === 0) return undefined;
      return sectionMap(list, (section, winner, loser) => {
        bad([policies !== undefined ? 'policies' : 'policy'], `${winner.label} and ${loser.label} both set ${section}; ` +
          `a ${owner.kind} takes each section from one policy: remove ${section} from one of them`);
      });
    },

    finishBackend(backend, own, warn) {
      const once = (file: string, line: number, what: string): void => {
        const m = `${file}:${line}: ${what}`;
        if (!said.has(m)) {
          said.add(m);
          warn(file, line, what);
        }
      };
      backends.apply(
        backend,
        [own],
        (p, what) => once(p.file, p.line, `${what} (${p.label} on backend "${backend.name}")`),
        (section, winner, loser) => once(loser.policy.file, loser.policy.line,
          `backend "${backend.name}" gets ${section} from ${winner.policy.label} (via ${winner.via}) and ${loser.policy.label} ` +
          `(via ${loser.via}); the first declared, ${winner.policy.label}, wins; give backend "${backend.name}" a policy with ${section} to choose`),
      );
    },
  };
}
