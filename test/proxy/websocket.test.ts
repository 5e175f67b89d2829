// WebSocket upgrades through the proxy on both front ends: the 101 is relayed, messages flow
// both ways (text, binary, large, fragmented), close codes cross, and an upstream that does not
// answer 101 opens no tunnel.
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import WebSocket, { WebSocketServer } from 'ws';
import { FRONTENDS, nativeConfig, startGateway, type RunningGateway } from '../helpers/gateway';
import { httpUpstream, type TestServer } from '../helpers/servers';

function open(url: string, protocols?: string[]): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols, { perMessageDeflate: false });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`status ${res.statusCode}`)));
  });
}

function nextMessage(ws: WebSocket): Promise<{ data: Buffer; binary: boolean }> {
  return new Promise((resolve) => ws.once('message', (data, binary) => resolve({ data: data as Buffer, binary })));
}

for (const fe of FRONTENDS) {
  describe(`websocket [${fe}]`, () => {
    let wss: WebSocketServer;
    let wssPort: number;
    let plain: TestServer;
    let gw: RunningGateway;
    before(async () => {
      wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false, handleProtocols: (p) => (p.has('chat') ? 'chat' : false) });
      await new Promise((r) => wss.once('listening', r));
      wssPort = (wss.address() as AddressInfo).port;
      wss.on('connection', (ws, req) => {
        ws.on('message', (data, binary) => {
          const text = binary ? null : data.toString();
          if (text === 'close-me') return ws.close(4001, 'bye');
          if (text === 'fragments') {
            ws.send('ab', { fin: false });
            ws.send('cd', { fin: true });
            return;
          }
          if (text === 'headers') return ws.send(JSON.stringify(req.headers));
          ws.send(data, { binary });
        });
      });
      plain = await httpUpstream((_req, res) => {
        res.writeHead(403, { 'content-type': 'text/plain' });
        res.end('no websockets here');
      });
      gw = await startGateway(
        fe,
        nativeConfig(`routes:
  - name: ws
    match: [{ path: /ws }]
    backend: ws
  - name: plain
    match: [{ path: /plain }]
    backend: plain
backends:
  - name: ws
    endpoints: ["127.0.0.1:${wssPort}"]
  - name: plain
    endpoints: ["127.0.0.1:${plain.port}"]
`),
      );
    });
    after(async () => {
      await gw.stop();
      await new Promise((r) => wss.close(r));
      await plain.close();
    });

    it('relays the 101 with the negotiated subprotocol and echoes text and binary', async () => {
      const ws = await open(`ws://127.0.0.1:${gw.port}/ws`, ['chat']);
      assert.equal(ws.protocol, 'chat');
      let m = nextMessage(ws);
      ws.send('hello');
      assert.equal((await m).data.toString(), 'hello');
      m = nextMessage(ws);
      ws.send(Buffer.from([0, 1, 2, 255]));
      const bin = await m;
      assert.equal(bin.binary, true);
      assert.deepEqual([...bin.data], [0, 1, 2, 255]);
      m = nextMessage(ws);
      const big = Buffer.alloc(200_000, 7);
      ws.send(big);
      assert.equal((await m).data.length, big.length);
      m = nextMessage(ws);
      ws.send('fragments');
      assert.equal((await m).data.toString(), 'abcd');
      m = nextMessage(ws);
      ws.send('headers');
      const seen = JSON.parse((await m).data.toString());
      assert.equal(seen['x-forwarded-for'], '127.0.0.1');
      assert.equal(seen.upgrade.toLowerCase(), 'websocket');
      ws.close();
    });

    it('carries the upstream close code to the client', async () => {
      const ws = await open(`ws://127.0.0.1:${gw.port}/ws`);
      const closed = new Promise<number>((r) => ws.once('close', (code) => r(code)));
      ws.send('close-me');
      assert.equal(await closed, 4001);
    });

    it('an upstream that does not answer 101 opens no tunnel', async () => {
      await assert.rejects(open(`ws://127.0.0.1:${gw.port}/plain`), /status 403/);
      // And the gateway still serves.
      const ws = await open(`ws://127.0.0.1:${gw.port}/ws`);
      ws.close();
    });
  });
}
