#!/usr/bin/env bash
# Instructions per request of one gatemesh build, counted by valgrind's callgrind: repeatable to
# ~0.1 % run to run where wall-clock CPU on a shared VM swings by 20 %, so it shows changes of
# a few hundred instructions that no req/s figure here can. User space only: the kernel's TCP
# work (most of a small request's time) is not in it, so it ranks code changes, it does not
# predict req/s.
#
#   bench/callgrind.sh <variant> [frontend] [requests]
#     variant   off | log | policies | policies-nolog   (the bench's `policies` scenario config
#               with or without the access log, or the plain catch-all route with or without it)
#     frontend  uws (default) | native-free
#     requests  measured requests (default 20000), after 60000 of warm-up (GATEMESH_CG_WARMUP) and
#               a third as many on fresh connections. node runs with --no-memory-reducer: the main
#               thread's memory reducer otherwise sometimes runs a full GC inside the window
#               (+4.5k instructions per request in one of four identical runs).
#
# Needs valgrind and nginx (the upstream). Prints instructions per request, in total and by
# kind (JIT code, V8 builtins, compiler, GC, libc, uWS, the rest of node): compiler time is the
# optimizing compiler still at work, which varies with warm-up; compare the other rows.
# GATEMESH_ROOT: the build to measure (default: this checkout). GATEMESH_CG_OUT: a file to keep
# the raw callgrind dump in (for callgrind_annotate). GATEMESH_CG_PERF_MAP=<file>: run node with
# --perf-basic-prof and keep its /tmp/perf-<pid>.map there: each `???:0x…` of JIT code in the dump
# lies in one `<start> <size> <name>` line of it (hex), e.g. `JS:*decide …/request-policies.js:31:11`.
set -euo pipefail
variant=${1:?usage: bench/callgrind.sh off|log|policies|policies-nolog [uws|native-free] [requests]}
frontend=${2:-uws}
requests=${3:-20000}
warmup=${GATEMESH_CG_WARMUP:-60000}
here=$(cd "$(dirname "$0")/.." && pwd)
root=${GATEMESH_ROOT:-$here}
command -v valgrind >/dev/null || { echo "valgrind not installed (apt-get install -y valgrind)" >&2; exit 1; }
command -v nginx >/dev/null || { echo "nginx not installed (apt-get install -y nginx-light)" >&2; exit 1; }
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT

free_port() { node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"; }
up=$(free_port)
cat > "$tmp/upstream.conf" <<EOF
worker_processes 1; daemon off; pid $tmp/nginx.pid; error_log $tmp/nginx-error.log warn;
events { worker_connections 1024; }
http { access_log off; keepalive_requests 10000000; keepalive_timeout 300s;
  client_body_temp_path $tmp/cb; proxy_temp_path $tmp/p; fastcgi_temp_path $tmp/f; uwsgi_temp_path $tmp/u; scgi_temp_path $tmp/s;
  server { listen 127.0.0.1:$up; location / { return 200 "$(printf 'x%.0s' $(seq 1 100))"; } } }
EOF
nginx -c "$tmp/upstream.conf" -p "$tmp" &
pids+=($!)

port=$(free_port)
admin=$(free_port)
# The bench's own configs (bench/harness/proxies.ts gatemeshConfig, built to dist/): the catch-all
# route of small-get, or the policies scenario's route.
[[ -f $here/dist/bench/harness/proxies.js ]] || { echo "not built: npx tsc -p $here" >&2; exit 1; }
table=single
[[ $variant == policies* ]] && table=policies
node -e "process.stdout.write(require(process.argv[1]).gatemeshConfig(+process.argv[2], +process.argv[3], process.argv[4]))" \
  "$here/dist/bench/harness/proxies.js" "$port" "$up" "$table" > "$tmp/gatemesh.yaml"
log=off
[[ $variant == log || $variant == policies ]] && log=$tmp/access.log

# N keep-alive GETs over 10 connections, each answered before the next is sent.
cat > "$tmp/client.js" <<'EOF'
const net = require('net');
const [port, n] = [Number(process.argv[2]), Number(process.argv[3])];
const req = Buffer.from('GET /small HTTP/1.1\r\nHost: x\r\nx-tenant: bench\r\n\r\n');
let sent = 0, done = 0;
for (let i = 0; i < 10; i++) {
  const s = net.connect(port, '127.0.0.1');
  let buf = '';
  const next = () => { if (sent >= n) return s.end(); sent++; s.write(req); };
  s.on('connect', next);
  s.on('data', (d) => {
    buf += d.toString('latin1');
    for (let m; (m = buf.indexOf('\r\n\r\n')) >= 0; ) {
      const cl = Number((/content-length: *(\d+)/i.exec(buf.slice(0, m)) || [0, 0])[1]);
      if (buf.length < m + 4 + cl) break;
      buf = buf.slice(m + 4 + cl);
      if (++done === n) process.exit(0);
      next();
    }
  });
  s.on('error', (e) => { console.error(e.message); process.exit(1); });
}
EOF

GATEMESH_THREADS=1 GATEMESH_FRONTEND=$frontend GATEMESH_ADMIN_ADDR=127.0.0.1:$admin GATEMESH_ACCESS_LOG=$log \
  valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$tmp/cg.%p" \
  node --no-memory-reducer ${GATEMESH_CG_PERF_MAP:+--perf-basic-prof} "$root/bin/gatemesh.js" --config "$tmp/gatemesh.yaml" > "$tmp/gatemesh.out" 2>&1 &
vg=$!
pids+=($vg)
for _ in $(seq 1 600); do curl -sf -o /dev/null "127.0.0.1:$admin/ready" && break; sleep 0.5; done
node "$tmp/client.js" "$port" "$warmup"
# A second, shorter warm-up on fresh connections: closing the first warm-up's connections makes V8
# drop optimized code that assumed them (a field going back to null), and under valgrind it takes
# thousands of requests to optimize again, which otherwise lands in the measured window.
node "$tmp/client.js" "$port" "$((warmup / 3))"
callgrind_control -i on "$vg" >/dev/null 2>&1
node "$tmp/client.js" "$port" "$requests"
callgrind_control -d "$vg" >/dev/null 2>&1
callgrind_control -i off "$vg" >/dev/null 2>&1
dump=$(ls "$tmp"/cg.*.1 | head -1)
# GATEMESH_CG_OUT=<file>: keep the raw dump for callgrind_annotate (function by function).
[[ -n ${GATEMESH_CG_OUT:-} ]] && cp "$dump" "$GATEMESH_CG_OUT"
# valgrind runs node in its own process: the map is named after $vg.
[[ -n ${GATEMESH_CG_PERF_MAP:-} ]] && mv "/tmp/perf-$vg.map" "$GATEMESH_CG_PERF_MAP"
callgrind_annotate --inclusive=no --threshold=100 "$dump" | python3 -c '
import re, sys
n = int(sys.argv[1])
kinds = {}
def kind(name):
    if name.startswith("???:0x"): return "JIT code"
    if re.search(r"compiler::|Reduce|Maglev|maglev|Pipeline|Schedule|RegisterAlloc|InstructionSelector|Graph|LiveRange|Typer|Zone|baseline::|Bytecode|Parser|Scanner|Compile|Node\*\)", name): return "compiler"
    if re.search(r"Heap|Scaveng|Marking|Sweep|Evacuat|Slot|Remembered|MemoryChunk|Concurrent", name): return "GC"
    if "uws_linux" in name: return "uWS"
    if "libc.so" in name: return "libc"
    if "Builtins_" in name: return "V8 builtins"
    return "node / V8 other"
for line in sys.stdin:
    m = re.match(r"\s*([\d,]+) \([ \d.]+%\)\s+(.*)$", line)
    if m and "PROGRAM TOTALS" not in line:
        k = kind(m.group(2)); kinds[k] = kinds.get(k, 0) + int(m.group(1).replace(",", ""))
total = sum(kinds.values())
rest = total - kinds.get("compiler", 0)
print(f"instructions per request: {total / n:,.0f} (without compiler: {rest / n:,.0f})")
for k, v in sorted(kinds.items(), key=lambda kv: -kv[1]): print(f"  {k:<16} {v / n:>9,.0f}")
' "$requests"
