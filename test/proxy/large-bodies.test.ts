// Streaming with backpressure: 1 GiB down and 1 GiB up through the proxy keep the gateway's
// peak RSS (VmHWM) under 200 MB, on both front ends.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import { describe, it } from 'node:test';
import { FRONTENDS, nativeConfig, startGateway } from '../helpers/gateway';
import { httpUpstream } from '../helpers/servers';

const GIB = 1024 * 1024 * 1024;
const BLOCK = Buffer.alloc(256 * 1024, 0x61);

function peakRssMb(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /VmHWM:\s+(\d+) kB/.exec(status);
  return m ? Number(m[1]) / 1024 : NaN;
}

function writeAll(w: NodeJS.WritableStream, total: number, done: () => void): void {
  let sent = 0;
  const pump = (): void => {
    while (sent < total) {
      const n = Math.min(BLOCK.length, total - sent);
      sent += n;
      if (!w.write(n === BLOCK.length ? BLOCK : BLOCK.subarray(0, n))) {
        w.once('drain', pump);
        return;
      }
    }
    done();
  };
  pump();
}

for (const fe of FRONTENDS) {
  describe(`large bodies [${fe}]`, () => {
    it('1 GiB download and 1 GiB chunked upload stay under 200 MB RSS', async () => {
      const up = await httpUpstream(() => {});
      up.server.removeAllListeners('request');
      up.server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
        if (req.method === 'GET') {
          res.writeHead(200, { 'content-length': String(GIB) });
          writeAll(res, GIB, () => res.end());
          return;
        }
        let got = 0;
        req.on('data', (c: Buffer) => (got += c.length));
        req.on('end', () => res.end(String(got)));
      });
      const gw = await startGateway(fe, nativeConfig(`routes:\n  - name: r\n    backend: b\nbackends:\n  - name: b\n    endpoints: ["127.0.0.1:${up.port}"]\n`), {
        GATEMESH_ACCESS_LOG: 'off',
      });
      try {
        const down = await new Promise<number>((resolve, reject) => {
          http
            .get({ host: '127.0.0.1', port: gw.port, path: '/big', agent: false }, (res) => {
              let n = 0;
              res.on('data', (c: Buffer) => (n += c.length));
              res.on('end', () => resolve(n));
              res.on('error', reject);
            })
            .on('error', reject);
        });
        assert.equal(down, GIB);
        const upBytes = await new Promise<string>((resolve, reject) => {
          const req = http.request({ host: '127.0.0.1', port: gw.port, method: 'POST', path: '/upload', agent: false }, (res) => {
            let body = '';
            res.on('data', (c: Buffer) => (body += c));
            res.on('end', () => resolve(body));
          });
          req.on('error', reject);
          writeAll(req, GIB, () => req.end());
        });
        assert.equal(Number(upBytes), GIB);
        const peak = peakRssMb(gw.proc.pid!);
        assert.ok(peak < 200, `peak RSS ${peak.toFixed(0)} MB`);
      } finally {
        await gw.stop();
        await up.close();
      }
    });
  });
}
