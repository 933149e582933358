/**
 * A `node:net`-style `Socket` over a stack endpoint (TCP, or a unix stream
 * endpoint from `src/transport/unix`): a real `stream.Duplex`, so pipes,
 * `for await`, `node:http` servers and Hono apps work on the user-space stack
 * unchanged.
 *
 * Backpressure is the TCP window: `_read` pulls from the endpoint only while
 * the readable side wants more (unread bytes stay in the endpoint's receive
 * buffer and shrink the advertised window), and `_write` completes only once
 * the endpoint's send buffer took the bytes. Nothing is buffered without bound:
 * at most the stream's high-water marks on top of the endpoint's buffers.
 *
 * Events and errors follow node:net: `connect` and `ready` after the
 * handshake (never inside `connect()`), `data`, `end` on the peer's FIN,
 * `timeout` after `setTimeout` idleness, `error` with Node's codes
 * (`ECONNREFUSED`, `ECONNRESET`, `ETIMEDOUT`, ...), then `close(hadError)`.
 */
import { Duplex } from "node:stream";
import type { Endpoint, WaiterQueueLike } from "../../stack/registration.ts";
import { Address } from "../../tcpip/address.ts";
import type { Clock, Timer } from "../../tcpip/clock.ts";
import {
  ErrClosedForReceive,
  ErrConnectStarted,
  ErrUnknownProtocolOption,
  ErrWouldBlock,
  TcpipError,
} from "../../tcpip/errors.ts";
import type { FullAddress } from "../../tcpip/full-address.ts";
import { SockOpt } from "../../tcpip/options.ts";
import {
  IPV4_PROTOCOL_NUMBER,
  IPV6_PROTOCOL_NUMBER,
  ShutdownFlags,
  TCP_PROTOCOL_NUMBER,
} from "../../tcpip/protocols.ts";
import { UNIX_STREAM, type UnixNamespace, unixAddress } from "../../transport/unix/namespace.ts";
import { type Entry, EventErr, EventHUp, EventIn, EventOut, Queue } from "../../waiter/waiter.ts";
import { toNodeError } from "./errors.ts";
import { defaultUnixNamespace } from "./unix.ts";

/** What the adapter needs of a stack: making endpoints, and its clock for timeouts. */
export interface StackLike {
  newEndpoint(transport: number, network: number, waiterQueue: WaiterQueueLike): Endpoint;
  readonly clock: Clock;
}

/**
 * An endpoint with the queue that reports its readiness. For endpoints the
 * adapter creates, the queue is a `waiter.Queue` it made; accepted endpoints
 * come with the queue the transport made, which must be a `waiter.Queue` too
 * (TCP and unix create one per accepted connection).
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
  /** Stream buffer sizes (bytes); the endpoint's buffers hold the rest. */
  readableHighWaterMark?: number;
  writableHighWaterMark?: number;
  /** Where `connect({ path })` looks names up (default: the process-wide namespace). */
  unix?: UnixNamespace;
}

export interface ConnectOptions {
  port?: number;
  host?: string;
  /** A unix stream socket name (in the `unix` namespace; no filesystem). */
  path?: string;
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
  private readonly unix: UnixNamespace | undefined;
  private wantRead = false;
  private pendingWrite: PendingWrite | undefined;
  private pendingConnect: (() => void) | undefined;
  private connectCheckScheduled = false;
  private writing = false;
  private pumping = false;
  /** A flush or pump was asked for while one ran (re-entrantly): run it again when the current one ends. */
  private writeAgain = false;
  private pumpAgain = false;
  private pumpScheduled = false;
  private idleMs = 0;
  private timeoutSet = false;
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
      // 'close' carries `hadError` and comes after the endpoint closed, as in node:net (see _destroy).
      emitClose: false,
    });
    this.stack = opts.stack;
    this.unix = opts.unix;
    if (opts.endpoint) {
      this.attach(opts.endpoint.endpoint, asQueue(opts.endpoint.waiterQueue));
      // Start reading at once, as node:net does for an accepted socket: the peer's FIN then
      // ends the readable side even if nobody consumes it.
      this.read(0);
    }
  }

  private attach(ep: Endpoint, wq: Queue): void {
    this.ep = ep;
    this.wq = wq;
    this.wq.register(this.entry, EventIn | EventOut | EventErr | EventHUp);
    this.refreshAddresses();
  }

  private refreshAddresses(): void {
    const ep = this.ep;
    if (!ep) return;
    try {
      this.local = ep.getLocalAddress();
      this.remote = ep.getRemoteAddress();
    } catch {}
  }

  /** The endpoint under this socket (for tests and advanced options). */
  get endpoint(): Endpoint | undefined {
    return this.ep;
  }

  /** Bytes taken by the endpoint plus bytes still buffered in the stream (as node:net counts them). */
  get bytesWritten(): number {
    return this.written + this.writableLength - (this.pendingWrite?.off ?? 0);
  }
  /** True until connected (node:net's `pending`). */
  get pending(): boolean {
    return !this.ep || this.connecting;
  }
  get remoteAddress(): string | undefined {
    return this.remote?.addr?.toString();
  }
  get remotePort(): number | undefined {
    return this.remote?.addr ? this.remote.port : undefined;
  }
  get remoteFamily(): string | undefined {
    return this.remote?.addr ? (this.remote.addr.is4 ? "IPv4" : "IPv6") : undefined;
  }
  get localAddress(): string | undefined {
    return this.local?.addr?.toString();
  }
  get localPort(): number | undefined {
    return this.local?.addr ? this.local.port : undefined;
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

  /**
   * Connects like `net.Socket#connect`: `connect(port, host?, listener?)`,
   * `connect(path, listener?)` for a unix name, or `connect(options, listener?)`.
   */
  connect(
    portOrOpts: number | string | ConnectOptions,
    hostOrCb?: string | (() => void),
    cb?: () => void,
  ): this {
    const opts: ConnectOptions =
      typeof portOrOpts === "number"
        ? { port: portOrOpts }
        : typeof portOrOpts === "string"
          ? { path: portOrOpts }
          : { ...portOrOpts };
    if (typeof hostOrCb === "string") opts.host = hostOrCb;
    const listener = typeof hostOrCb === "function" ? hostOrCb : cb;
    if (listener) this.once("connect", listener);
    if (this.ep)
      throw Object.assign(new Error("Socket is already connected"), { code: "ERR_SOCKET_CONNECTED" });
    if (opts.path !== undefined) return this.connectUnix(opts);
    if (!this.stack) throw new TypeError("Socket#connect needs a stack: new Socket({ stack })");
    const port = opts.port ?? 0;
    const host = opts.host ?? "127.0.0.1";
    const addr = Address.tryParse(host === "localhost" ? "127.0.0.1" : host);
    if (!addr) {
      const err = toNodeError(new TypeError(`bad address ${host}`), "connect", host, port);
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
      queueMicrotask(() => this.destroy(toNodeError(e, "connect", host, port)));
      return this;
    }
    return this.startConnect(ep, wq, { addr, port }, opts, host, port);
  }

  private connectUnix(opts: ConnectOptions): this {
    const ns = this.unix ?? defaultUnixNamespace;
    const wq = new Queue();
    const ep = ns.newEndpoint(UNIX_STREAM, 0, wq);
    return this.startConnect(ep, wq, unixAddress(opts.path!), opts, opts.path!, undefined);
  }

  private startConnect(
    ep: Endpoint,
    wq: Queue,
    to: FullAddress,
    opts: ConnectOptions,
    host: string,
    port: number | undefined,
  ): this {
    this.attach(ep, wq);
    if (opts.timeout !== undefined) this.setTimeout(opts.timeout);
    this.connecting = true;
    this.pendingConnect = () => this.finishConnect(host, port);
    try {
      ep.connect(to);
    } catch (e) {
      if (!(e instanceof ErrConnectStarted)) {
        this.pendingConnect = undefined;
        this.connecting = false;
        queueMicrotask(() => this.destroy(toNodeError(e, "connect", host, port)));
        return this;
      }
    }
    // A loopback handshake (or a unix connect) may have completed inside ep.connect.
    this.scheduleConnectCheck();
    return this;
  }

  /** 'connect' (or the connect error) is never emitted inside the caller's `connect()` call. */
  private scheduleConnectCheck(): void {
    if (this.connectCheckScheduled) return;
    this.connectCheckScheduled = true;
    process.nextTick(() => {
      this.connectCheckScheduled = false;
      this.pendingConnect?.();
    });
  }

  private finishConnect(host: string, port: number | undefined): void {
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
    this.emit("connect");
    this.emit("ready");
    if (this.destroyed) return;
    if (this.pendingWrite) this.flushWrite();
    // Start reading (node:net calls read(0) after connecting), so a FIN ends the readable side.
    if (this.wantRead) this.pump();
    else if (!this.isPaused() || this.readableFlowing === null) this.read(0);
  }

  private onEvents(_mask: number): void {
    if (this.pendingConnect) {
      this.scheduleConnectCheck();
      return;
    }
    if (this.wantRead) this.schedulePump();
    if (this.pendingWrite) this.flushWrite();
  }

  /**
   * Reading is deferred to a microtask: a link drains a whole batch of packets
   * synchronously, and each segment notifies us. Reading once after the batch
   * instead of once per segment saves a read, a `data` event and a window update
   * (an ACK) per segment; it measured 1.9x the upload rate over TUN (issue 10).
   */
  private schedulePump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    queueMicrotask(this.scheduledPump);
  }

  private readonly scheduledPump = (): void => {
    this.pumpScheduled = false;
    if (this.wantRead && !this.destroyed) this.pump();
  };

  override _read(): void {
    this.wantRead = true;
    if (!this.connecting && this.ep) this.pump();
  }

  /** Moves bytes from the endpoint into the stream while the stream wants them. */
  private pump(): void {
    const ep = this.ep;
    // Re-entrancy guard: over loopback, reading can send a window update that delivers
    // to the peer and comes back here through the waiter queue.
    if (!ep) return;
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    this.pumping = true;
    try {
      do {
        this.pumpAgain = false;
        this.pumpLoop(ep);
      } while (this.pumpAgain && this.wantRead && !this.destroyed);
    } finally {
      this.pumping = false;
    }
  }

  private pumpLoop(ep: Endpoint): void {
    while (this.wantRead) {
      // Nothing to read: return without making the endpoint throw ErrWouldBlock (an Error with a
      // stack trace, measured at ~4% of the upload profile when thrown once per segment).
      if ((ep.readiness(EventIn) & EventIn) === 0) return;
      let data: Uint8Array;
      try {
        data = ep.read(this.readableHighWaterMark).data;
      } catch (e) {
        if (e instanceof ErrWouldBlock) return;
        this.wantRead = false;
        if (e instanceof ErrClosedForReceive) {
          this.push(null);
          // Like node:net: read(0) lets 'end' fire when the buffer is empty, flowing or not.
          process.nextTick(() => this.read(0));
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
    // Re-entrancy guard: over loopback, `ep.write` can deliver to the peer and come back
    // here through the waiter queue before it returns; and a finished write's callback
    // makes the stream hand us its next chunk (`_write`) from inside this loop. Either way
    // the request is remembered and served when the running flush ends.
    if (this.writing) {
      this.writeAgain = true;
      return;
    }
    this.writing = true;
    try {
      do {
        this.writeAgain = false;
        const w = this.pendingWrite;
        const ep = this.ep;
        if (!w || !ep || this.connecting) break;
        this.flushWriteLoop(w, ep);
      } while (this.writeAgain);
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

  /** end(): a half-close (FIN) once everything written has gone to the endpoint. */
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
    // After the 'error' event (which the stream emits on the next tick), as node:net does once its handle closed.
    setImmediate(() => this.emit("close", err !== null && err !== undefined));
  }

  /** Destroys with a TCP RST instead of a FIN (like `net.Socket#resetAndDestroy`). */
  resetAndDestroy(): this {
    try {
      this.ep?.setSockOpt(SockOpt.Linger, 0);
    } catch {}
    this.destroy();
    return this;
  }

  /** Nagle off (TCP_NODELAY). A no-op on unix sockets, as in node:net. */
  setNoDelay(noDelay = true): this {
    if (this.ep) ignoreUnknownOption(() => this.ep!.setSockOpt(SockOpt.NoDelay, noDelay));
    return this;
  }

  /** TCP keep-alive (RFC 1122 §4.2.3.6), first probe after `initialDelay` ms of idleness. */
  setKeepAlive(enable = false, initialDelay = 0): this {
    const ep = this.ep;
    if (ep) ignoreUnknownOption(() => this.applyKeepAlive(ep, enable, initialDelay));
    return this;
  }

  private applyKeepAlive(ep: Endpoint, enable: boolean, initialDelay: number): void {
    ep.setSockOpt(SockOpt.KeepaliveEnabled, enable);
    if (enable && initialDelay > 0) ep.setSockOpt(SockOpt.KeepaliveIdle, initialDelay);
  }

  /** Emits `timeout` after `ms` of inactivity (no bytes in or out), like `net.Socket#setTimeout`. 0 disables. */
  setTimeout(ms: number, cb?: () => void): this {
    if (cb) {
      if (ms === 0) this.removeListener("timeout", cb);
      else this.once("timeout", cb);
    }
    this.idleMs = ms;
    this.timeoutSet = true;
    this.idleTimer?.stop();
    this.idleTimer = undefined;
    if (ms > 0) this.touch();
    return this;
  }

  /** The idle timeout in ms: undefined until `setTimeout` was called, as in node:net. */
  get timeout(): number | undefined {
    return this.timeoutSet ? this.idleMs : undefined;
  }

  private get clock(): Clock | undefined {
    return this.stack?.clock ?? (this.unix ?? defaultUnixNamespace).clock;
  }

  private touch(): void {
    if (this.idleMs <= 0 || this.destroyed) return;
    if (this.idleTimer) this.idleTimer.reset(this.idleMs);
    else this.idleTimer = this.clock?.afterFunc(this.idleMs, () => this.emit("timeout"));
  }

  ref(): this {
    return this;
  }
  unref(): this {
    return this;
  }
}

function ignoreUnknownOption(fn: () => void): void {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof ErrUnknownProtocolOption)) throw e;
  }
}
