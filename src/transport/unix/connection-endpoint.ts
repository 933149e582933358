/**
 * A connected unix socket: `UNIX_STREAM` (a byte stream) or `UNIX_SEQPACKET`
 * (records whose boundaries are kept). `connect` to a listening name completes
 * at once, as on Linux: the new pair is queued for the listener's `accept`.
 *
 * Backpressure is a bounded buffer on the receiving side: a write copies only
 * what fits in the peer's receive buffer (a record must fit whole) and throws
 * `ErrWouldBlock` when nothing does; reading frees room and tells the writer
 * with EventOut. (Linux bounds a stream by the sender's send buffer instead;
 * one bound per direction is what matters.)
 */
import type { Endpoint, ReadResult, WaiterQueueLike } from "../../stack/registration.ts";
import {
  ErrClosedForReceive,
  ErrClosedForSend,
  ErrConnectionRefused,
  ErrConnectionReset,
  ErrInvalidEndpointState,
  ErrInvalidOptionValue,
  ErrMessageTooLong,
  ErrNotConnected,
  ErrUnknownProtocolOption,
  ErrWouldBlock,
  type TcpipError,
} from "../../tcpip/errors.ts";
import type { FullAddress } from "../../tcpip/full-address.ts";
import { SockOpt, type SockOptName } from "../../tcpip/options.ts";
import { ShutdownFlags } from "../../tcpip/protocols.ts";
import { type ControlMessages, type Payload, payloadBytes } from "../../tcpip/write-options.ts";
import { EventErr, EventHUp, EventIn, EventOut, Queue } from "../../waiter/waiter.ts";
import { pathOf, UNIX_DEFAULT_BUFFER, UNIX_SEQPACKET, type UnixNamespace } from "./namespace.ts";

type State = "initial" | "bound" | "listening" | "connected" | "closed";

export class ConnectionEndpoint implements Endpoint {
  private state: State = "initial";
  private name: string | undefined;
  /** Whether `name` is ours in the namespace (bound), not just the listener's name an accepted endpoint shows. */
  private ownsName = false;
  private peer: ConnectionEndpoint | undefined;
  /** The peer's name when we connected (kept after it closes, like getpeername). */
  private peerName = "";
  /** Received bytes (stream) or records (seqpacket) not read yet. */
  private readonly rcv: Uint8Array[] = [];
  private rcvBytes = 0;
  private rcvLimit = UNIX_DEFAULT_BUFFER;
  /** The peer will send no more (it shut down writing or closed). */
  private rcvEof = false;
  private rcvShut = false;
  private sndShut = false;
  /** The peer closed with unread data: our next read reports a reset (Linux ECONNRESET). */
  private reset = false;
  private pendingError: TcpipError | undefined;
  private backlog = 0;
  private readonly acceptQueue: { endpoint: ConnectionEndpoint; waiterQueue: Queue }[] = [];

  /** unix(7) SO_PASSCRED: reads carry the sender's credentials. */
  private passcred = false;

  constructor(
    private readonly ns: UnixNamespace,
    readonly type: number,
    private readonly wq: WaiterQueueLike,
  ) {}

  private get records(): boolean {
    return this.type === UNIX_SEQPACKET;
  }

  // ---- naming and connecting ----

  bind(addr: FullAddress): void {
    if (this.state !== "initial" || this.name !== undefined) throw new ErrInvalidEndpointState();
    const name = pathOf(addr);
    this.ns.claim(name, this);
    this.name = name;
    this.ownsName = true;
    this.state = "bound";
  }

  listen(backlog: number): void {
    if (this.state === "listening") {
      this.backlog = Math.max(1, backlog | 0);
      return;
    }
    if (this.state !== "initial" && this.state !== "bound") throw new ErrInvalidEndpointState();
    if (this.name === undefined) this.bind({ port: 0, path: this.ns.autoName() } as FullAddress);
    this.backlog = Math.max(1, backlog | 0);
    this.state = "listening";
  }

  /** Connects at once (no `ErrConnectStarted`); `ErrConnectionRefused` if nothing of our type listens on the name, `ErrWouldBlock` if its backlog is full (Linux EAGAIN). */
  connect(addr: FullAddress): void {
    if (this.state === "connected") throw new ErrInvalidEndpointState();
    if (this.state !== "initial" && this.state !== "bound") throw new ErrInvalidEndpointState();
    const name = pathOf(addr);
    const l = this.ns.lookup(name);
    if (!(l instanceof ConnectionEndpoint) || l.state !== "listening" || l.type !== this.type) {
      throw new ErrConnectionRefused();
    }
    if (l.acceptQueue.length >= l.backlog) throw new ErrWouldBlock();
    const q = new Queue();
    const child = new ConnectionEndpoint(this.ns, this.type, q);
    child.name = name;
    child.state = "connected";
    this.pairWith(child);
    this.peerName = name;
    child.peerName = this.name ?? "";
    l.acceptQueue.push({ endpoint: child, waiterQueue: q });
    l.wq.notify(EventIn);
    this.wq.notify(EventOut);
  }

  /** @internal Joins two fresh endpoints (connect, socketpair). */
  pairWith(other: ConnectionEndpoint): void {
    this.peer = other;
    other.peer = this;
    this.state = "connected";
    other.state = "connected";
  }

  accept(): { endpoint: Endpoint; waiterQueue: WaiterQueueLike } {
    if (this.state !== "listening") throw new ErrInvalidEndpointState();
    const c = this.acceptQueue.shift();
    if (!c) throw new ErrWouldBlock();
    return c;
  }

  // ---- data ----

  /** Room in the peer's receive buffer, or undefined when the peer cannot take data any more. */
  private peerRoom(): number | undefined {
    const p = this.peer;
    if (!p || p.state === "closed" || p.rcvShut) return undefined;
    return Math.max(0, p.rcvLimit - p.rcvBytes);
  }

  write(payload: Payload, _opts?: unknown): number {
    if (this.state !== "connected")
      throw this.state === "closed" ? new ErrClosedForSend() : new ErrNotConnected();
    if (this.sndShut) throw new ErrClosedForSend();
    const room = this.peerRoom();
    // Linux: writing to a peer that closed (or shut down reading) is EPIPE.
    if (room === undefined) throw new ErrClosedForSend();
    const size = payload instanceof Uint8Array ? payload.length : payload.size;
    const p = this.peer!;
    if (this.records) {
      if (size > p.rcvLimit) throw new ErrMessageTooLong();
      if (size > room) throw new ErrWouldBlock();
    } else {
      if (size === 0) return 0;
      if (room === 0) throw new ErrWouldBlock();
    }
    const n = this.records ? size : Math.min(room, size);
    // Copy: the caller may reuse its buffer.
    p.rcv.push(payloadBytes(payload, n).slice(0, n));
    p.rcvBytes += n;
    p.wq.notify(EventIn);
    return n;
  }

  read(maxBytes?: number): ReadResult {
    return this.take(maxBytes, false);
  }

  peek(maxBytes?: number): ReadResult {
    return this.take(maxBytes, true);
  }

  private take(maxBytes: number | undefined, peek: boolean): ReadResult {
    if (this.rcv.length > 0 && !this.rcvShut) {
      const max = maxBytes ?? Number.POSITIVE_INFINITY;
      let data: Uint8Array;
      let truncated = false;
      if (this.records) {
        const r = this.rcv[0]!;
        truncated = r.length > max;
        data = truncated ? r.subarray(0, max) : r;
        if (!peek) {
          // SOCK_SEQPACKET: the rest of a record read short is discarded.
          this.rcv.shift();
          this.rcvBytes -= r.length;
        }
      } else {
        data = this.gather(max, peek);
      }
      if (!peek) this.peer?.wq.notify(EventOut);
      return {
        data,
        from: { port: 0, path: this.peerName } as FullAddress,
        control: this.control(truncated),
      };
    }
    if (this.reset) {
      this.reset = false;
      this.rcvEof = true;
      throw new ErrConnectionReset();
    }
    if (this.rcvEof || this.rcvShut || this.state === "closed") throw new ErrClosedForReceive();
    if (this.state !== "connected") throw new ErrNotConnected();
    throw new ErrWouldBlock();
  }

  /** Up to `max` bytes from the front of the stream. */
  private gather(max: number, peek: boolean): Uint8Array {
    const first = this.rcv[0]!;
    if (first.length >= max || this.rcv.length === 1) {
      const n = Math.min(max, first.length);
      const out = first.subarray(0, n);
      if (!peek) {
        if (n === first.length) this.rcv.shift();
        else this.rcv[0] = first.subarray(n);
        this.rcvBytes -= n;
      }
      return out;
    }
    const n = Math.min(max, this.rcvBytes);
    const out = new Uint8Array(n);
    let off = 0;
    let i = 0;
    while (off < n) {
      const c = this.rcv[i]!;
      const k = Math.min(c.length, n - off);
      out.set(c.subarray(0, k), off);
      off += k;
      if (!peek) {
        if (k === c.length) i++;
        else this.rcv[i] = c.subarray(k);
      } else {
        i++;
      }
    }
    if (!peek) {
      this.rcv.splice(0, i);
      this.rcvBytes -= n;
    }
    return out;
  }

  // ---- ending ----

  shutdown(flags: number): void {
    if (this.state !== "connected") throw new ErrNotConnected();
    const p = this.peer;
    if (flags & ShutdownFlags.Write && !this.sndShut) {
      this.sndShut = true;
      if (p) {
        p.rcvEof = true;
        p.wq.notify(EventIn | EventHUp);
      }
    }
    if (flags & ShutdownFlags.Read && !this.rcvShut) {
      this.rcvShut = true;
      this.rcv.length = 0;
      this.rcvBytes = 0;
      this.wq.notify(EventIn);
      // The peer's writes now fail (EPIPE), and its poll says so.
      p?.wq.notify(EventOut | EventHUp);
    }
  }

  close(): void {
    if (this.state === "closed") return;
    const was = this.state;
    this.state = "closed";
    if (this.ownsName) this.ns.release(this.name!, this);
    if (was === "listening") {
      for (const c of this.acceptQueue.splice(0)) c.endpoint.close();
    }
    const p = this.peer;
    if (p) {
      // Linux (unix_release_sock): a peer that closes with unread data resets the other side.
      if (this.rcvBytes > 0) p.reset = true;
      p.rcvEof = true;
      p.wq.notify(EventIn | EventOut | EventHUp | (p.reset ? EventErr : 0));
    }
    this.rcv.length = 0;
    this.rcvBytes = 0;
    this.wq.notify(EventIn | EventOut | EventHUp);
  }

  // ---- readiness and options ----

  readiness(mask: number): number {
    let r = 0;
    if (this.state === "listening") {
      if (this.acceptQueue.length > 0) r |= EventIn;
      return r & mask;
    }
    if (this.state === "closed") return (EventIn | EventOut | EventHUp) & mask;
    if (this.rcvBytes > 0 || this.rcvEof || this.rcvShut || this.reset) r |= EventIn;
    if (this.state === "connected") {
      const room = this.peerRoom();
      // A write that would fail is "ready" too (it returns the error at once), as poll(2) says.
      if (room === undefined || this.sndShut || room > 0) r |= EventOut;
      if (room === undefined && this.rcvEof) r |= EventHUp;
      if (this.sndShut && this.rcvEof) r |= EventHUp;
    }
    if (this.reset || this.pendingError) r |= EventErr;
    return r & mask;
  }

  setSockOpt(name: SockOptName, value: unknown): void {
    switch (name) {
      case SockOpt.ReceiveBufferSize:
      case SockOpt.SendBufferSize: {
        if (typeof value !== "number" || !(value >= 1)) throw new ErrInvalidOptionValue();
        // One bound per direction: the receiver's buffer (see the file comment).
        if (name === SockOpt.ReceiveBufferSize) this.rcvLimit = Math.floor(value);
        return;
      }
      case SockOpt.Passcred:
        if (typeof value !== "boolean") throw new ErrInvalidOptionValue();
        this.passcred = value;
        return;
      default:
        throw new ErrUnknownProtocolOption();
    }
  }

  /** Ancillary data of a read: truncation, and the sender's credentials with `Passcred` (unix(7) SO_PASSCRED). */
  private control(truncated: boolean): ControlMessages {
    const c: ControlMessages = truncated ? { truncated } : {};
    if (this.passcred) c.credentials = { ...this.ns.credentials };
    return c;
  }

  getSockOpt(name: SockOptName): unknown {
    switch (name) {
      case SockOpt.ReceiveBufferSize:
        return this.rcvLimit;
      case SockOpt.SendBufferSize:
        return this.peer?.rcvLimit ?? UNIX_DEFAULT_BUFFER;
      case SockOpt.ReceiveQueueSize:
        return this.rcvBytes;
      case SockOpt.SendQueueSize:
        // Bytes go straight into the peer's buffer.
        return 0;
      case SockOpt.Passcred:
        return this.passcred;
      case SockOpt.Error: {
        const e = this.pendingError;
        this.pendingError = undefined;
        return e;
      }
      default:
        throw new ErrUnknownProtocolOption();
    }
  }

  getLocalAddress(): FullAddress {
    return { port: 0, path: this.name ?? "" } as FullAddress;
  }

  getRemoteAddress(): FullAddress {
    if (this.state !== "connected" && !(this.state === "closed" && this.peer)) throw new ErrNotConnected();
    return { port: 0, path: this.peerName } as FullAddress;
  }
}
