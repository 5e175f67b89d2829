// What every front end offers the worker: bind a listener and hand each request to the proxy.
// Implemented by src/frontend/uws.ts (uWebSockets.js) and native-free/frontend.ts (node:net +
// node:http's llhttp parser).
import type net from 'node:net';
import type { Settings } from '../env';
import type { Downstream, IncomingHead } from '../http/downstream';
import type { ErrorSpec } from '../errors';

export interface ListenerSpec {
  /** Bind address, '0.0.0.0' = all interfaces. */
  address: string;
  /** 0 = the OS picks (then later threads bind the port the first one got). */
  port: number;
}

/** A request that asked to switch protocols (RFC 9110 §7.8; WebSocket, RFC 6455 §4). */
export interface UpgradeDownstream extends Downstream {
  /**
   * The upstream answered 101: relay its head (flat [name, value, ...] without hop-by-hop fields
   * other than Connection/Upgrade, which the front end writes itself) and then carry bytes both
   * ways between the client and `upstream` until either side closes. `rest` = bytes the upstream
   * sent after its 101 head. A non-101 answer goes through the ordinary Downstream methods.
   */
  accept(headers: string[], upstream: net.Socket, rest: Buffer): void;
}

/** `refusal`: the front end turns the request away before routing (uws: GATEMESH_MAX_CONNECTIONS);
 *  the proxy answers it and logs it like any error of its own. */
export type RequestHandler = (head: IncomingHead, ds: Downstream, listener: number, refusal?: ErrorSpec) => void;
export type UpgradeHandler = (head: IncomingHead, ds: UpgradeDownstream, listener: number) => void;

export interface BoundListener {
  /** The port actually bound. */
  readonly port: number;
  /** Requests being served right now on this listener. */
  readonly inflight: number;
  /** Stop accepting new connections; idle keep-alive connections are closed, busy ones get
   *  `Connection: close` on their current response and are closed after it. */
  stopAccepting(): void;
  /** Close every connection now (drain timeout reached). */
  closeAll(): void;
}

export interface Frontend {
  readonly name: 'uws' | 'native-free';
  listen(
    spec: ListenerSpec,
    index: number,
    settings: Settings,
    onRequest: RequestHandler,
    onUpgrade: UpgradeHandler,
  ): Promise<BoundListener>;
}
