// Micro-benchmark of the route table hot path: RouteTable.match() at 10 and 10,000 routes,
// against the linear-scan peer (src/router/linear-route-table.ts) over the same routes.
// Each route is a distinct PathPrefix `/svc-N/` plus two Exact paths; requests hit the
// last-added route. Reports the median ns/op over several rounds, and heap growth / GC count
// during the compiled table's rounds (0 B/op and no GC means match() allocated nothing).
//
//   npx tsc -p . && node dist/bench/micro/route-match.js [--quick] [--rounds 9] [--round-ms 150]

import { calibrateOps, gcCount, median, settle, stopGcCount, ROUND_MS, ROUNDS } from '../harness/micro-timing';
import v8 from 'node:v8';
import vm from 'node:vm';

import type { Route } from '../../src/config/model';
import { compileRouteTable, type RouteTable } from '../../src/router/route-table';
import { createLinearRouteTable } from '../../src/router/linear-route-table';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;


function buildRoutes(n: number): Route[] {
  const routes: Route[] = [];
  for (let i = 0; i < n; i++) {
    routes.push({
      name: `default/svc-${i}`,
      hostnames: ['api.example.com'],
      creationTimestamp: new Date(Date.UTC(2024, 0, 1) + i * 1000).toISOString(),
      source: { file: 'bench.yaml', line: i + 1 },
      rules: [
        {
          matches: [{ path: { type: 'PathPrefix', value: `/svc-${i}/` }, headers: [], queryParams: [] }],
          backendRefs: [{ backend: `default/svc-${i}:8080`, weight: 1 }],
        },
        {
          name: 'health',
          matches: [
            { path: { type: 'Exact', value: `/svc-${i}/healthz` }, headers: [], queryParams: [] },
            { path: { type: 'Exact', value: `/svc-${i}/ready` }, headers: [], queryParams: [] },
          ],
          backendRefs: [{ backend: `default/svc-${i}:8081`, weight: 1 }],
        },
      ],
    });
  }
  return routes;
}

interface Scenario {
  name: string;
  host: string;
  method: string;
  path: string;
  query: string;
  headers: string[];
}

function scenarios(n: number): Scenario[] {
  const last = n - 1;
  const headers = ['host', 'api.example.com', 'user-agent', 'bench/1', 'accept', '*/*'];
  return [
    { name: 'prefix, last route', host: 'api.example.com', method: 'GET', path: `/svc-${last}/items/42`, query: '', headers },
    { name: 'exact, last route', host: 'api.example.com', method: 'GET', path: `/svc-${last}/healthz`, query: '', headers },
    { name: 'prefix, Host:port upper', host: 'API.Example.com:8443', method: 'GET', path: `/svc-${last}/items/42`, query: 'a=1', headers },
    { name: 'miss (404)', host: 'api.example.com', method: 'GET', path: '/nope/items/42', query: '', headers },
  ];
}

let sink = 0;

/** Runs `ops` matches; the sink keeps the JIT from dropping the call. */
function loop(t: RouteTable, s: Scenario, ops: number): number {
  const start = process.hrtime.bigint();
  for (let i = 0; i < ops; i++) {
    const r = t.match(s.host, s.method, s.path, s.query, s.headers);
    sink = (sink + (r === null ? 1 : r.ruleIndex + 2)) | 0;
  }
  return Number(process.hrtime.bigint() - start) / ops;
}

function calibrate(t: RouteTable, s: Scenario): number {
  return calibrateOps((ops) => loop(t, s, ops), ROUND_MS, 100);
}


gcCount();

interface Measured {
  nsPerOp: number;
  heapBefore: number;
  heapAfter: number;
  bytesPerOp: number;
  gcs: number;
}

async function measure(t: RouteTable, s: Scenario): Promise<Measured> {
  const ops = calibrate(t, s);
  gc();
  await settle();
  const gcsBefore = gcCount();
  const heapBefore = process.memoryUsage().heapUsed;
  const samples: number[] = [];
  for (let r = 0; r < ROUNDS; r++) samples.push(loop(t, s, ops));
  const heapAfter = process.memoryUsage().heapUsed;
  await settle();
  return {
    nsPerOp: median(samples),
    heapBefore,
    heapAfter,
    bytesPerOp: (heapAfter - heapBefore) / (ops * ROUNDS),
    gcs: gcCount() - gcsBefore,
  };
}

const kb = (b: number) => (b / 1024).toFixed(0) + ' KiB';

async function main(): Promise<void> {
  console.log(`route-match: node ${process.version}, ${ROUNDS} rounds of ~${ROUND_MS} ms, median ns/op`);
  const rows: string[][] = [];
  for (const n of [10, 10_000]) {
    const routes = buildRoutes(n);
    const t0 = process.hrtime.bigint();
    const table = compileRouteTable(routes);
    const compileMs = Number(process.hrtime.bigint() - t0) / 1e6;
    const linear = createLinearRouteTable(routes);
    console.log(`${n} routes: ${table.size} rules×matches, compiled in ${compileMs.toFixed(1)} ms`);
    for (const s of scenarios(n)) {
      const want = linear.match(s.host, s.method, s.path, s.query, s.headers)?.label ?? null;
      const got = table.match(s.host, s.method, s.path, s.query, s.headers)?.label ?? null;
      if (got !== want) throw new Error(`route-match: ${s.name}: compiled ${got} != linear ${want}`);
      const c = await measure(table, s);
      const l = await measure(linear, s);
      rows.push([
        String(n), s.name, String(got), c.nsPerOp.toFixed(1), l.nsPerOp.toFixed(1), (l.nsPerOp / c.nsPerOp).toFixed(1) + 'x',
        `${kb(c.heapBefore)} → ${kb(c.heapAfter)}`, c.bytesPerOp.toFixed(3), String(c.gcs),
      ]);
    }
  }
  const head = ['routes', 'scenario', 'matched', 'compiled ns/op', 'linear ns/op', 'linear/compiled', 'heap (compiled)', 'B/op', 'GCs'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) => '| ' + r.map((c, i) => c.padEnd(widths[i])).join(' | ') + ' |';
  console.log(line(head));
  console.log('|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|');
  for (const r of rows) console.log(line(r));
  stopGcCount();
  if (sink === 0.5) console.log(sink); // never true; keeps `sink` observable
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
