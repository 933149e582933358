/**
 * Unix-domain sockets inside one process (the seed's `transport/unix`): stream,
 * datagram and seqpacket endpoints that find each other by name in a
 * `UnixNamespace`, a registry object like Linux's abstract namespace. Nothing
 * touches the filesystem: a name is just a string, freed when its socket
 * closes.
 *
 * Endpoints implement the stack's `Endpoint` contract (non-blocking calls that
 * throw `ErrWouldBlock`, readiness through a waiter queue), so the adapters in
 * `src/adapters/net` serve them like TCP endpoints.
 *
 * Not supported: passing credentials (`SO_PASSCRED`/`SCM_CREDENTIALS`) and file
 * descriptors (`SCM_RIGHTS`): there is one process and no descriptors.
 */
import type { Endpoint, WaiterQueueLike } from "../../stack/registration.ts";
import { type Clock, RealClock } from "../../tcpip/clock.ts";
import { ErrBadAddress, ErrPortInUse, ErrUnknownProtocol } from "../../tcpip/errors.ts";
import type { FullAddress } from "../../tcpip/full-address.ts";
import { Queue } from "../../waiter/waiter.ts";
import { ConnectionEndpoint } from "./connection-endpoint.ts";
import { UnixDatagramEndpoint } from "./datagram-endpoint.ts";

/** Socket types, with Linux's `SOCK_*` values. */
export const UNIX_STREAM = 1;
export const UNIX_DGRAM = 2;
export const UNIX_SEQPACKET = 5;
export type UnixSocketType = typeof UNIX_STREAM | typeof UNIX_DGRAM | typeof UNIX_SEQPACKET;

/** Linux's default socket buffer (`net.core.rmem_default`). */
export const UNIX_DEFAULT_BUFFER = 212_992;
/** Linux's `net.unix.max_dgram_qlen`: most datagrams one receiver queues. */
export const UNIX_MAX_DGRAM_QLEN = 512;

/** A unix address: a `FullAddress` (port 0) carrying the socket's name. */
export interface UnixAddress extends FullAddress {
  path: string;
}

export function unixAddress(path: string): UnixAddress {
  return { port: 0, path };
}

/** The name in a `FullAddress` given to a unix endpoint; throws `ErrBadAddress` without one. */
export function pathOf(addr: FullAddress): string {
  const p = (addr as Partial<UnixAddress>).path;
  if (typeof p !== "string" || p.length === 0) throw new ErrBadAddress();
  return p;
}

type Named = ConnectionEndpoint | UnixDatagramEndpoint;

export class UnixNamespace {
  private readonly names = new Map<string, Named>();
  private anon = 0;
  /** For the adapters' idle timeouts when no network stack is involved. */
  readonly clock: Clock;
  /**
   * The credentials every endpoint of this namespace sends (SCM_CREDENTIALS):
   * one namespace lives in one process, so by default the process's own.
   */
  readonly credentials: { pid: number; uid: number; gid: number };

  constructor(opts: { clock?: Clock; credentials?: { pid: number; uid: number; gid: number } } = {}) {
    this.clock = opts.clock ?? new RealClock();
    const p = (globalThis as { process?: { pid?: number; getuid?: () => number; getgid?: () => number } })
      .process;
    this.credentials = opts.credentials ?? {
      pid: p?.pid ?? 0,
      uid: p?.getuid?.() ?? 0,
      gid: p?.getgid?.() ?? 0,
    };
  }

  /**
   * A new endpoint of socket type `type` (`UNIX_STREAM`, `UNIX_DGRAM`,
   * `UNIX_SEQPACKET`). The second argument is ignored (there is no network
   * protocol); it keeps the shape of `Stack.newEndpoint`.
   */
  newEndpoint(type: number, _network: number, waiterQueue: WaiterQueueLike): Endpoint {
    switch (type) {
      case UNIX_STREAM:
      case UNIX_SEQPACKET:
        return new ConnectionEndpoint(this, type, waiterQueue);
      case UNIX_DGRAM:
        return new UnixDatagramEndpoint(this, waiterQueue);
      default:
        throw new ErrUnknownProtocol();
    }
  }

  /** Two endpoints connected to each other, without names (like socketpair(2)). */
  socketPair(type: UnixSocketType): [EndpointPair, EndpointPair] {
    const qa = new Queue();
    const qb = new Queue();
    if (type === UNIX_DGRAM) {
      const a = new UnixDatagramEndpoint(this, qa);
      const b = new UnixDatagramEndpoint(this, qb);
      a.connectTo(b);
      b.connectTo(a);
      return [
        { endpoint: a, waiterQueue: qa },
        { endpoint: b, waiterQueue: qb },
      ];
    }
    const a = new ConnectionEndpoint(this, type, qa);
    const b = new ConnectionEndpoint(this, type, qb);
    a.pairWith(b);
    return [
      { endpoint: a, waiterQueue: qa },
      { endpoint: b, waiterQueue: qb },
    ];
  }

  /** Names in use (for diagnostics and tests). */
  list(): string[] {
    return [...this.names.keys()];
  }

  /** @internal */
  claim(name: string, ep: Named): void {
    if (this.names.has(name)) throw new ErrPortInUse();
    this.names.set(name, ep);
  }

  /** @internal */
  release(name: string, ep: Named): void {
    if (this.names.get(name) === ep) this.names.delete(name);
  }

  /** @internal */
  lookup(name: string): Named | undefined {
    return this.names.get(name);
  }

  /** @internal A fresh name for an endpoint that listens or sends without binding (Linux autobind). */
  autoName(): string {
    for (;;) {
      const n = `\0auto-${(++this.anon).toString(16).padStart(5, "0")}`;
      if (!this.names.has(n)) return n;
    }
  }
}

export interface EndpointPair {
  endpoint: Endpoint;
  waiterQueue: Queue;
}
