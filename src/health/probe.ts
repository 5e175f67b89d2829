// One active HTTP health check against one endpoint: a fresh connection (no pool, so a check never
// waits behind traffic and always proves the endpoint still accepts connections), the configured
// method, path and Host, decided on the response status line; the whole exchange bounded by timeoutMs.
import http from 'node:http';
import net from 'node:net';
import type { ActiveHealthCheck, Endpoint } from '../config/model';

/** Outcome of one check: passed, or failed with a short reason for the transition log. */
export type ProbeDone = (passed: boolean, reason: string) => void;

/** address:port, [v6]:port for IPv6 (the Host header default and the endpoint's name in logs). */
export function endpointLabel(endpoint: Endpoint): string {
  return net.isIPv6(endpoint.address) ? `[${endpoint.address}]:${endpoint.port}` : `${endpoint.address}:${endpoint.port}`;
}

/** Host header of a check: `hostname` when set, else the endpoint's address:port. */
export function probeHost(endpoint: Endpoint, check: ActiveHealthCheck): string {
  return check.hostname !== undefined && check.hostname !== '' ? check.hostname : endpointLabel(endpoint);
}

/** Starts a check; `done` is called exactly once. Returns a cancel function (no `done` after it). */
export function probeHttp(endpoint: Endpoint, check: ActiveHealthCheck, done: ProbeDone): () => void {
  let finished = false;
  const finish = (passed: boolean, reason: string): void => {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    // The verdict is the status line; the body is not needed, and `Connection: close` was asked for.
    req.destroy();
    done(passed, reason);
  };
  const req = http.request({
    host: endpoint.address,
    port: endpoint.port,
    method: check.method,
    path: check.path,
    agent: false,
    headers: { host: probeHost(endpoint, check), 'user-agent': 'gatemesh-health-check', connection: 'close' },
  });
  const timer = setTimeout(() => finish(false, `timeout after ${check.timeoutMs} ms`), check.timeoutMs);
  req.on('response', (res) => {
    res.on('error', () => {});
    const status = res.statusCode ?? 0;
    finish(check.expectedStatuses.includes(status), `status ${status}`);
  });
  req.on('error', (err: NodeJS.ErrnoException) => finish(false, err.code ?? err.message));
  req.end();
  return () => {
    finished = true;
    clearTimeout(timer);
    req.destroy();
  };
}
