/**
 * A `node:net`-style `Socket` over a stack TCP endpoint: a real
 * `stream.Duplex`, so pipes, `for await`, `node:http` servers and Hono apps
 * work on the user-space stack unchanged.
 *
 * Backpressure is the TCP window: `_read` pulls from the endpoint only while
 * the readable side wants more (unread bytes stay in the endpoint's receive
 * buffer and shrink the advertised window), and `_write` completes only once
 * the endpoint's send buffer took the bytes. Nothing is buffered without bound.
 */
import { Duplex } from "node:stream";
import type { Endpoint, WaiterQueueLike } from "../../stack/registration.ts";
import { Address } from "../../tcpip/address.ts";
import type { Clock, Timer } from "../../tcpip/clock.ts";
import { ErrClosedForReceive, ErrConnectStarted, ErrWouldBlock, TcpipError } from "../../tcpip/errors.ts";
import type { FullAddress } from "../../tcpip/full-address.ts";
import { SockOpt } from "../../tcpip/options.ts";
import {
  IPV4_PROTOCOL_NUMBER,
  IPV6_PROTOCOL_NUMBER,
  ShutdownFlags,
  TCP_PROTOCOL_NUMBER,
} from "../../tcpip/protocols.ts";
import { type Entry, EventErr, EventHUp, EventIn, EventOut, Queue } from "../../waiter/waiter.ts";
import { toNodeError } from "./errors.ts";

/** What the adapter needs of a stack: making endpoints, and its clock for timeouts. */
export interface StackLike {
  newEndpoint(transport: number, network: number, waiterQueue: WaiterQueueLike): Endpoint;
  readonly clock: Clock;
}

/**
 * An endpoint with the queue that reports its readiness. For endpoints the
 * adapter creates, the queue is a `waiter.Queue` it made; accepted endpoints
 * come with the queue the transport made, which must be a `waiter.Queue` too
 * (TCP creates one per accepted connection).
 */
export interface EndpointWithQueue {
  endpoint: Endpoint;
  waiterQueue: WaiterQueueLike;
}

function asQueue(q: WaiterQueueLike): Queue {
  if (!(q instanceof Queue))
    throw new TypeError("adapters/net needs endpoints whose waiter queue is a waiter.Queue");
  return q;
}

export interface SocketOptions {
  stack?: StackLike;
  /** Wrap an already connected endpoint (from `accept`). */
  endpoint?: EndpointWithQueue;
  allowHalfOpen?: boolean;
  /** Stream buffer sizes (bytes); the TCP buffers hold the rest. */
  readableHighWaterMark?: number;
  writableHighWaterMark?: number;
}

export interface ConnectOptions {
  port: number;
  host?: string;
  localAddress?: string;
  localPort?: number;
  noDelay?: boolean;
  keepAlive?: boolean;
  keepAliveInitialDelay?: number;
  timeout?: number;
}

interface PendingWrite {
  chunk: Uint8Array;
  off: number;
  cb: (err?: Error | null) => void;
}

export class Socket extends Duplex {
  bytesRead = 0;
  private written = 0;
  connecting = false;
  private ep: Endpoint | undefined;
  private wq: Queue | undefined;
  private readonly stack: StackLike | undefined;
  private wantRead = false;
  private writing = false;
  private pumping = false;
  private pendingWrite: PendingWrite | undefined;
  private pendingConnect: (() => void) | undefined;
  private idleMs = 0;
  private idleTimer: Timer | undefined;
  private remote: FullAddress | undefined;
  private local: FullAddress | undefined;
  private readonly entry: Entry = { callback: (mask) => this.onEvents(mask) };

  constructor(opts: SocketOptions = {}) {
    super({
      allowHalfOpen: opts.allowHalfOpen ?? false,
      readableHighWaterMark: opts.readableHighWaterMark ?? 64 * 1024,
      writableHighWaterMark: opts.writableHighWaterMark ?? 64 * 1024,
      // Bytes in, bytes out: no string decoding here, as node:net does by default.
      decodeStrings: true,
    });
    this.stack = opts.stack;
    if (opts.endpoint) this.attach(opts.endpoint.endpoint, asQueue(opts.endpoint.waiterQueue));
  }

  private attach(ep: Endpoint, wq: Queue): void {
    this.ep = ep;
    this.wq = wq;
    this.wq.register(this.entry, EventIn | EventOut | EventErr | EventHUp);
    try {
      this.remote = ep.getRemoteAddress();
      this.local = ep.getLocalAddress();
    } catch {}
  }

  /** The endpoint under this socket (for tests and advanced options). */
  get endpoint(): Endpoint | undefined {
    return this.ep;
  }

  get bytesWritten(): number {
    return this.written;
  }
  get remoteAddress(): string | undefined {
    return this.remote?.addr?.toString();
  }
  get remotePort(): number | undefined {
    return this.remote?.port;
  }
  get remoteFamily(): string | undefined {
    return this.remote?.addr ? (this.remote.addr.is4 ? "IPv4" : "IPv6") : undefined;
  }
  get localAddress(): string | undefined {
    return this.local?.addr?.toString();
  }
  get localPort(): number | undefined {
    return this.local?.port;
  }
  get readyState(): string {
    if (this.connecting) return "opening";
    if (this.readable && this.writable) return "open";
    if (this.readable) return "readOnly";
    if (this.writable) return "writeOnly";
    return "closed";
  }

  address(): { address: string; family: string; port: number } | Record<string, never> {
    if (!this.local?.addr) return {};
    return {
      address: this.local.addr.toString(),
      family: this.local.addr.is4 ? "IPv4" : "IPv6",
      port: this.local.port,
    };
  }

  /** Connects like `net.Socket#connect`: `connect(port, host?, listener?)` or `connect(options, listener?)`. */
  connect(portOrOpts: number | ConnectOptions, hostOrCb?: string | (() => void), cb?: () => void): this {
    const opts: ConnectOptions = typeof portOrOpts === "number" ? { port: portOrOpts } : portOrOpts;
    if (typeof hostOrCb === "string") opts.host = hostOrCb;
    const listener = typeof hostOrCb === "function" ? hostOrCb : cb;
    if (listener) this.once("connect", listener);
    if (!this.stack) throw new TypeError("Socket#connect needs a stack: new Socket({ stack })");
    const host = opts.host ?? "127.0.0.1";
    const addr = Address.tryParse(host === "localhost" ? "127.0.0.1" : host);
    if (!addr) {
      const err = toNodeError(new TypeError(`bad address ${host}`), "connect", host, opts.port);
      err.code = "EINVAL";
      queueMicrotask(() => this.destroy(err));
      return this;
    }
    const wq = new Queue();
    let ep: Endpoint;
    try {
      ep = this.stack.newEndpoint(
        TCP_PROTOCOL_NUMBER,
        addr.is4 ? IPV4_PROTOCOL_NUMBER : IPV6_PROTOCOL_NUMBER,
        wq,
      );
      if (opts.noDelay) ep.setSockOpt(SockOpt.NoDelay, true);
      if (opts.keepAlive) this.applyKeepAlive(ep, true, opts.keepAliveInitialDelay ?? 0);
      if (opts.localAddress !== undefined || opts.localPort !== undefined) {
        const la = opts.localAddress ? Address.parse(opts.localAddress) : undefined;
        ep.bind(la ? { addr: la, port: opts.localPort ?? 0 } : { port: opts.localPort ?? 0 });
      }
    } catch (e) {
      queueMicrotask(() => this.destroy(toNodeError(e, "connect", host, opts.port)));
      return this;
    }
    this.attach(ep, wq);
    if (opts.timeout !== undefined) this.setTimeout(opts.timeout);
    this.connecting = true;
    this.pendingConnect = () => this.finishConnect(host, opts.port);
    try {
      ep.connect({ addr, port: opts.port });
      // Connected at once (loopback): finish on the next turn so listeners attach first.
      queueMicrotask(() => this.pendingConnect?.());
    } catch (e) {
      if (!(e instanceof ErrConnectStarted)) {
        this.pendingConnect = undefined;
        this.connecting = false;
        queueMicrotask(() => this.destroy(toNodeError(e, "connect", host, opts.port)));
      }
    }
    return this;
  }

  private finishConnect(host: string, port: number): void {
    const ep = this.ep!;
    if (!(ep.readiness(EventOut | EventErr | EventHUp) & (EventOut | EventErr | EventHUp))) return;
    this.pendingConnect = undefined;
    this.connecting = false;
    const err = ep.getSockOpt(SockOpt.Error);
    if (err) {
      this.destroy(toNodeError(err, "connect", host, port));
      return;
    }
    try {
      this.remote = ep.getRemoteAddress();
      this.local = ep.getLocalAddress();
    } catch (e) {
      this.destroy(toNodeError(e, "connect", host, port));
      return;
    }
    this.touch();
    // Like node:net, never emit `connect` from inside `connect()`: over loopback the
    // handshake can finish synchronously, before the caller attached its listeners.
    process.nextTick(() => {
      if (this.destroyed) return;
      this.emit("connect");
      this.emit("ready");
      if (this.wantRead) this.pump();
      if (this.pendingWrite) this.flushWrite();
    });
  }

  private onEvents(_mask: number): void {
    if (this.pendingConnect) {
      this.pendingConnect();
      return;
    }
    if (this.wantRead) this.pump();
    if (this.pendingWrite) this.flushWrite();
  }

  override _read(): void {
    this.wantRead = true;
    if (!this.connecting && this.ep) this.pump();
  }

  /** Moves bytes from the endpoint into the stream while the stream wants them. */
  private pump(): void {
    const ep = this.ep;
    if (!ep || this.pumping) return;
    this.pumping = true;
    try {
      this.pumpLoop(ep);
    } finally {
      this.pumping = false;
    }
  }

  private pumpLoop(ep: Endpoint): void {
    while (this.wantRead) {
      let data: Uint8Array;
      try {
        data = ep.read().data;
      } catch (e) {
        if (e instanceof ErrWouldBlock) return;
        this.wantRead = false;
        if (e instanceof ErrClosedForReceive) {
          this.push(null);
          return;
        }
        this.destroy(toNodeError(e, "read", this.remoteAddress, this.remotePort));
        return;
      }
      if (data.length === 0) continue;
      this.bytesRead += data.length;
      this.touch();
      this.wantRead = this.push(Buffer.from(data.buffer, data.byteOffset, data.length));
    }
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.pendingWrite = { chunk, off: 0, cb };
    if (!this.connecting) this.flushWrite();
  }

  override _writev(chunks: { chunk: Buffer }[], cb: (err?: Error | null) => void): void {
    this._write(Buffer.concat(chunks.map((c) => c.chunk)), "binary", cb);
  }

  private flushWrite(): void {
    const w = this.pendingWrite;
    const ep = this.ep;
    // Re-entrancy guard: over loopback, `ep.write` can deliver to the peer and come
    // back here through the waiter queue before it returns.
    if (!w || !ep || this.writing) return;
    this.writing = true;
    try {
      this.flushWriteLoop(w, ep);
    } finally {
      this.writing = false;
    }
  }

  private flushWriteLoop(w: PendingWrite, ep: Endpoint): void {
    while (w.off < w.chunk.length) {
      let n: number;
      try {
        n = ep.write(w.chunk.subarray(w.off));
      } catch (e) {
        if (e instanceof ErrWouldBlock) return;
        this.pendingWrite = undefined;
        w.cb(toNodeError(e, "write", this.remoteAddress, this.remotePort));
        return;
      }
      if (n === 0) return;
      w.off += n;
      this.written += n;
      this.touch();
    }
    this.pendingWrite = undefined;
    w.cb();
  }

  override _final(cb: (err?: Error | null) => void): void {
    const done = () => {
      try {
        this.ep?.shutdown(ShutdownFlags.Write);
        cb();
      } catch (e) {
        cb(toNodeError(e, "shutdown"));
      }
    };
    if (this.connecting) this.once("connect", done);
    else done();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.idleTimer?.stop();
    this.wq?.unregister(this.entry);
    this.pendingConnect = undefined;
    this.connecting = false;
    if (this.pendingWrite) {
      const w = this.pendingWrite;
      this.pendingWrite = undefined;
      w.cb(err ?? toNodeError(new TcpipError("socket destroyed"), "write"));
    }
    try {
      this.ep?.close();
    } catch {}
    cb(err);
  }

  /** Destroys with a TCP RST instead of a FIN (like `net.Socket#resetAndDestroy`). */
  resetAndDestroy(): this {
    try {
      this.ep?.setSockOpt(SockOpt.Linger, 0);
    } catch {}
    this.destroy();
    return this;
  }

  setNoDelay(noDelay = true): this {
    this.ep?.setSockOpt(SockOpt.NoDelay, noDelay);
    return this;
  }

  setKeepAlive(enable = false, initialDelay = 0): this {
    if (this.ep) this.applyKeepAlive(this.ep, enable, initialDelay);
    return this;
  }

  private applyKeepAlive(ep: Endpoint, enable: boolean, initialDelay: number): void {
    ep.setSockOpt(SockOpt.KeepaliveEnabled, enable);
    if (enable && initialDelay > 0) ep.setSockOpt(SockOpt.KeepaliveIdle, initialDelay);
  }

  /** Emits `timeout` after `ms` of inactivity (no bytes in or out), like `net.Socket#setTimeout`. 0 disables. */
  setTimeout(ms: number, cb?: () => void): this {
    if (cb) this.once("timeout", cb);
    this.idleMs = ms;
    this.idleTimer?.stop();
    this.idleTimer = undefined;
    if (ms > 0) this.touch();
    return this;
  }

  get timeout(): number | undefined {
    return this.idleMs || undefined;
  }

  private touch(): void {
    if (this.idleMs <= 0 || !this.stack) return;
    if (this.idleTimer) this.idleTimer.reset(this.idleMs);
    else this.idleTimer = this.stack.clock.afterFunc(this.idleMs, () => this.emit("timeout"));
  }

  ref(): this {
    return this;
  }
  unref(): this {
    return this;
  }
}
