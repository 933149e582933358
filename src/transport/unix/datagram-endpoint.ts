/**
 * A unix datagram socket (`UNIX_DGRAM`): messages to a name, boundaries kept,
 * reliable and in order. The receiver's queue is bounded (bytes and count, as
 * Linux's `max_dgram_qlen`); a sender that finds it full gets `ErrWouldBlock`
 * and an EventOut once the receiver has read.
 */
import type { Endpoint, ReadResult, WaiterQueueLike } from "../../stack/registration.ts";
import {
  ErrClosedForReceive,
  ErrClosedForSend,
  ErrConnectionRefused,
  ErrDestinationRequired,
  ErrInvalidEndpointState,
  ErrInvalidOptionValue,
  ErrMessageTooLong,
  ErrNotConnected,
  ErrUnknownProtocolOption,
  ErrWouldBlock,
} from "../../tcpip/errors.ts";
import type { FullAddress } from "../../tcpip/full-address.ts";
import { SockOpt, type SockOptName } from "../../tcpip/options.ts";
import { ShutdownFlags } from "../../tcpip/protocols.ts";
import { type Payload, payloadBytes, type WriteOptions } from "../../tcpip/write-options.ts";
import { EventHUp, EventIn, EventOut } from "../../waiter/waiter.ts";
import { pathOf, UNIX_DEFAULT_BUFFER, UNIX_MAX_DGRAM_QLEN, type UnixNamespace } from "./namespace.ts";

interface Message {
  data: Uint8Array;
  from: string;
}

export class UnixDatagramEndpoint implements Endpoint {
  private name: string | undefined;
  private closed = false;
  private peer: UnixDatagramEndpoint | undefined;
  private peerName = "";
  private readonly queue: Message[] = [];
  private queuedBytes = 0;
  private rcvLimit = UNIX_DEFAULT_BUFFER;
  private shut = 0;
  /** Senders that found our queue full and wait for room. */
  private readonly blocked = new Set<UnixDatagramEndpoint>();

  /** unix(7) SO_PASSCRED: reads carry the sender's credentials. */
  private passcred = false;

  constructor(
    private readonly ns: UnixNamespace,
    private readonly wq: WaiterQueueLike,
  ) {}

  bind(addr: FullAddress): void {
    if (this.closed || this.name !== undefined) throw new ErrInvalidEndpointState();
    const name = pathOf(addr);
    this.ns.claim(name, this);
    this.name = name;
  }

  /** Sets the default destination; an address without a path dissolves it. */
  connect(addr: FullAddress): void {
    if (this.closed) throw new ErrInvalidEndpointState();
    if ((addr as { path?: string }).path === undefined) {
      this.peer = undefined;
      this.peerName = "";
      return;
    }
    const name = pathOf(addr);
    const t = this.ns.lookup(name);
    if (!(t instanceof UnixDatagramEndpoint) || t.closed) throw new ErrConnectionRefused();
    this.peer = t;
    this.peerName = name;
  }

  /** @internal socketpair(2). */
  connectTo(other: UnixDatagramEndpoint): void {
    this.peer = other;
  }

  private full(size: number): boolean {
    return this.queue.length >= UNIX_MAX_DGRAM_QLEN || this.queuedBytes + size > this.rcvLimit;
  }

  write(payload: Payload, opts: WriteOptions = {}): number {
    if (this.closed || this.shut & ShutdownFlags.Write) throw new ErrClosedForSend();
    let target: UnixDatagramEndpoint | undefined;
    const to = opts.to as { path?: string } | undefined;
    if (to?.path !== undefined) {
      const t = this.ns.lookup(pathOf(opts.to!));
      if (!(t instanceof UnixDatagramEndpoint)) throw new ErrConnectionRefused();
      target = t;
    } else {
      if (!this.peer) throw new ErrDestinationRequired();
      target = this.peer;
    }
    if (target.closed || target.shut & ShutdownFlags.Read) throw new ErrConnectionRefused();
    const data = payloadBytes(payload).slice();
    if (data.length > target.rcvLimit) throw new ErrMessageTooLong();
    if (target.full(data.length)) {
      target.blocked.add(this);
      throw new ErrWouldBlock();
    }
    target.queue.push({ data, from: this.name ?? "" });
    target.queuedBytes += data.length;
    target.wq.notify(EventIn);
    return data.length;
  }

  read(maxBytes?: number): ReadResult {
    return this.take(maxBytes, false);
  }

  peek(maxBytes?: number): ReadResult {
    return this.take(maxBytes, true);
  }

  private take(maxBytes: number | undefined, peek: boolean): ReadResult {
    const m = this.queue[0];
    if (!m) {
      if (this.closed || this.shut & ShutdownFlags.Read) throw new ErrClosedForReceive();
      throw new ErrWouldBlock();
    }
    if (!peek) {
      this.queue.shift();
      this.queuedBytes -= m.data.length;
      if (this.blocked.size > 0) {
        const waiting = [...this.blocked];
        this.blocked.clear();
        for (const w of waiting) w.wq.notify(EventOut);
      }
    }
    const truncated = maxBytes !== undefined && maxBytes < m.data.length;
    return {
      data: truncated ? m.data.subarray(0, maxBytes) : m.data,
      from: { port: 0, path: m.from } as FullAddress,
      control: this.passcred
        ? { ...(truncated ? { truncated } : {}), credentials: { ...this.ns.credentials } }
        : truncated
          ? { truncated }
          : {},
    };
  }

  shutdown(flags: number): void {
    if (!this.peer) throw new ErrNotConnected();
    this.shut |= flags;
    this.wq.notify(EventIn | EventOut);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.name !== undefined) this.ns.release(this.name, this);
    this.queue.length = 0;
    this.queuedBytes = 0;
    for (const w of this.blocked) w.wq.notify(EventOut);
    this.blocked.clear();
    this.wq.notify(EventIn | EventOut | EventHUp);
  }

  readiness(mask: number): number {
    let r = 0;
    if (this.queue.length > 0 || this.closed || this.shut & ShutdownFlags.Read) r |= EventIn;
    if (this.closed) r |= EventOut | EventHUp;
    else if (!(this.shut & ShutdownFlags.Write)) {
      const p = this.peer;
      // Unconnected: any destination might have room, so say writable (as Linux does).
      if (!p || p.closed || !p.full(1)) r |= EventOut;
    }
    return r & mask;
  }

  setSockOpt(name: SockOptName, value: unknown): void {
    if (name === SockOpt.ReceiveBufferSize) {
      if (typeof value !== "number" || !(value >= 1)) throw new ErrInvalidOptionValue();
      this.rcvLimit = Math.floor(value);
      return;
    }
    if (name === SockOpt.SendBufferSize) return;
    if (name === SockOpt.Passcred) {
      if (typeof value !== "boolean") throw new ErrInvalidOptionValue();
      this.passcred = value;
      return;
    }
    throw new ErrUnknownProtocolOption();
  }

  getSockOpt(name: SockOptName): unknown {
    switch (name) {
      case SockOpt.ReceiveBufferSize:
        return this.rcvLimit;
      case SockOpt.ReceiveQueueSize:
        return this.queue[0]?.data.length ?? 0;
      case SockOpt.SendQueueSize:
        return 0;
      case SockOpt.Error:
        return undefined;
      case SockOpt.Passcred:
        return this.passcred;
      default:
        throw new ErrUnknownProtocolOption();
    }
  }

  getLocalAddress(): FullAddress {
    return { port: 0, path: this.name ?? "" } as FullAddress;
  }

  getRemoteAddress(): FullAddress {
    if (!this.peer) throw new ErrNotConnected();
    return { port: 0, path: this.peerName } as FullAddress;
  }
}
