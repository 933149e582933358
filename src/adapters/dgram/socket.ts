/**
 * A `node:dgram`-style UDP socket over a stack UDP endpoint:
 * `createSocket(stack, "udp4" | "udp6")`, `bind`, `send`, `on("message",
 * (msg, rinfo))`, `connect`/`disconnect`, multicast membership, broadcast,
 * TTLs, buffer sizes, `close`. Events: `listening`, `connect`, `message`,
 * `error`, `close`. Errors carry Node's codes (`EADDRINUSE`, `EACCES`,
 * `EMSGSIZE`, ...).
 *
 * Messages are taken from the endpoint and emitted on a later microtask,
 * never from inside the stack's receive path. Sends are synchronous on the
 * stack (a datagram goes to the network layer at once) and report through the
 * callback on the next tick, as node:dgram does.
 */
import { EventEmitter } from "node:events";
import type { Endpoint } from "../../stack/registration.ts";
import { Address } from "../../tcpip/address.ts";
import { ErrWouldBlock } from "../../tcpip/errors.ts";
import type { FullAddress } from "../../tcpip/full-address.ts";
import { SockOpt } from "../../tcpip/options.ts";
import { IPV4_PROTOCOL_NUMBER, IPV6_PROTOCOL_NUMBER, UDP_PROTOCOL_NUMBER } from "../../tcpip/protocols.ts";
import { type Entry, EventIn, Queue } from "../../waiter/waiter.ts";
import { type NodeStyleError, toNodeError } from "../net/errors.ts";
import type { StackLike } from "../net/socket.ts";

export type SocketType = "udp4" | "udp6";

export interface SocketOptions {
  type: SocketType;
  reuseAddr?: boolean;
  /** Only IPv6 on a udp6 socket (dual-stack otherwise). */
  ipv6Only?: boolean;
  recvBufferSize?: number;
  sendBufferSize?: number;
}

export interface RemoteInfo {
  address: string;
  family: "IPv4" | "IPv6";
  port: number;
  size: number;
}

export interface BindOptions {
  port?: number;
  address?: string;
  exclusive?: boolean;
}

type Message = string | Uint8Array | readonly (string | Uint8Array)[];
export type SendCallback = (err: Error | null, bytes?: number) => void;
export type MessageListener = (msg: Buffer, rinfo: RemoteInfo) => void;

function codeError(code: string, message: string): NodeStyleError {
  return Object.assign(new Error(message), { code }) as NodeStyleError;
}

export class Socket extends EventEmitter {
  readonly type: SocketType;
  private ep: Endpoint | undefined;
  private readonly wq = new Queue();
  private bound = false;
  private closed = false;
  private connected = false;
  private draining = false;
  private readonly entry: Entry = { callback: () => this.scheduleDrain() };

  constructor(
    private readonly stack: StackLike,
    private readonly opts: SocketOptions,
  ) {
    super();
    this.type = opts.type;
  }

  private get family(): number {
    return this.type === "udp4" ? IPV4_PROTOCOL_NUMBER : IPV6_PROTOCOL_NUMBER;
  }

  private endpoint(): Endpoint {
    if (this.closed) throw codeError("ERR_SOCKET_DGRAM_NOT_RUNNING", "Not running");
    if (!this.ep) {
      const ep = this.stack.newEndpoint(UDP_PROTOCOL_NUMBER, this.family, this.wq);
      if (this.opts.reuseAddr) ep.setSockOpt(SockOpt.ReuseAddress, true);
      if (this.opts.ipv6Only && this.type === "udp6") ep.setSockOpt(SockOpt.V6Only, true);
      if (this.opts.recvBufferSize) ep.setSockOpt(SockOpt.ReceiveBufferSize, this.opts.recvBufferSize);
      if (this.opts.sendBufferSize) ep.setSockOpt(SockOpt.SendBufferSize, this.opts.sendBufferSize);
      this.ep = ep;
      this.wq.register(this.entry, EventIn);
    }
    return this.ep;
  }

  private parse(host: string | undefined, syscall: string, port?: number): Address {
    const h = host ?? (this.type === "udp4" ? "127.0.0.1" : "::1");
    const a = Address.tryParse(h === "localhost" ? (this.type === "udp4" ? "127.0.0.1" : "::1") : h);
    if (!a) throw Object.assign(codeError("EINVAL", `${syscall} EINVAL ${h}`), { syscall, address: h, port });
    return a;
  }

  /** `bind(port?, address?, cb?)` or `bind({ port, address }, cb?)`; emits `listening`. */
  bind(
    portOrOpts?: number | BindOptions | (() => void),
    addrOrCb?: string | (() => void),
    cb?: () => void,
  ): this {
    let o: BindOptions = {};
    let done: (() => void) | undefined;
    if (typeof portOrOpts === "object") o = { ...portOrOpts };
    else if (typeof portOrOpts === "number") o.port = portOrOpts;
    else if (typeof portOrOpts === "function") done = portOrOpts;
    if (typeof addrOrCb === "string") o.address = addrOrCb;
    else if (typeof addrOrCb === "function") done = addrOrCb;
    if (cb) done = cb;
    if (this.bound) throw codeError("ERR_SOCKET_ALREADY_BOUND", "Socket is already bound");
    if (done) this.once("listening", done);
    try {
      const ep = this.endpoint();
      const addr = o.address === undefined ? undefined : this.parse(o.address, "bind", o.port);
      ep.bind(addr && !addr.isUnspecified ? { addr, port: o.port ?? 0 } : { port: o.port ?? 0 });
    } catch (e) {
      const err = (e as NodeStyleError).code ? e : toNodeError(e, "bind", o.address, o.port);
      queueMicrotask(() => this.emit("error", err));
      return this;
    }
    this.bound = true;
    queueMicrotask(() => this.emit("listening"));
    return this;
  }

  /** A bind to any address and an ephemeral port, as node:dgram does before the first send. */
  private implicitBind(): void {
    if (this.bound) return;
    this.endpoint().bind({ port: 0 });
    this.bound = true;
    queueMicrotask(() => this.emit("listening"));
  }

  /**
   * `send(msg, port?, address?, cb?)` or `send(msg, offset, length, port?, address?, cb?)`.
   * `msg` may be a string, a Uint8Array or an array of them (sent as one datagram).
   */
  send(msg: Message, port?: number, address?: string, cb?: SendCallback): void;
  send(msg: Message, port: number, cb: SendCallback): void;
  send(msg: Message, cb?: SendCallback): void;
  send(
    msg: Message,
    offset: number,
    length: number,
    port?: number,
    address?: string,
    cb?: SendCallback,
  ): void;
  send(msg: Message, ...args: unknown[]): void {
    let cb: SendCallback | undefined;
    if (typeof args[args.length - 1] === "function") cb = args.pop() as SendCallback;
    let data = toBytes(msg);
    if (typeof args[0] === "number" && typeof args[1] === "number" && args.length >= 3) {
      data = data.subarray(args[0], args[0] + args[1]);
      args = args.slice(2);
    } else if (typeof args[0] === "number" && typeof args[1] === "number" && this.connected) {
      data = data.subarray(args[0], args[0] + args[1]);
      args = args.slice(2);
    }
    const port = args[0] as number | undefined;
    const host = args[1] as string | undefined;
    const report = (err: Error | null, n?: number) => {
      process.nextTick(() => {
        if (cb) cb(err, n);
        else if (err) this.emit("error", err);
      });
    };
    if (this.closed) {
      report(codeError("ERR_SOCKET_DGRAM_NOT_RUNNING", "Not running"));
      return;
    }
    if (this.connected && port !== undefined) {
      report(codeError("ERR_SOCKET_DGRAM_IS_CONNECTED", "Already connected"));
      return;
    }
    if (!this.connected && port === undefined) {
      report(codeError("ERR_SOCKET_BAD_PORT", "Port should be > 0 and < 65536"));
      return;
    }
    try {
      this.implicitBind();
      const ep = this.endpoint();
      const n =
        port === undefined
          ? ep.write(data)
          : ep.write(data, { to: { addr: this.parse(host, "send", port), port } as FullAddress });
      report(null, n);
    } catch (e) {
      report((e as NodeStyleError).code ? (e as Error) : toNodeError(e, "send", host, port));
    }
  }

  /** Associates the socket with one peer: `send` needs no address and only its messages arrive. */
  connect(port: number, addrOrCb?: string | (() => void), cb?: () => void): void {
    const host = typeof addrOrCb === "string" ? addrOrCb : undefined;
    const done = typeof addrOrCb === "function" ? addrOrCb : cb;
    if (this.connected) throw codeError("ERR_SOCKET_DGRAM_IS_CONNECTED", "Already connected");
    if (done) this.once("connect", done);
    try {
      this.implicitBind();
      this.endpoint().connect({ addr: this.parse(host, "connect", port), port });
    } catch (e) {
      const err = (e as NodeStyleError).code ? e : toNodeError(e, "connect", host, port);
      queueMicrotask(() => this.emit("error", err));
      return;
    }
    this.connected = true;
    queueMicrotask(() => this.emit("connect"));
  }

  disconnect(): void {
    if (!this.connected) throw codeError("ERR_SOCKET_DGRAM_NOT_CONNECTED", "Not connected");
    this.endpoint().connect({ port: 0 });
    this.connected = false;
  }

  address(): { address: string; family: string; port: number } {
    if (!this.bound || !this.ep) throw codeError("ERR_SOCKET_DGRAM_NOT_RUNNING", "Not running");
    const a = this.ep.getLocalAddress();
    const addr = a.addr ?? (this.type === "udp4" ? Address.ANY_V4 : Address.ANY_V6);
    return { address: addr.toString(), family: addr.is4 ? "IPv4" : "IPv6", port: a.port };
  }

  remoteAddress(): { address: string; family: string; port: number } {
    if (!this.connected || !this.ep) throw codeError("ERR_SOCKET_DGRAM_NOT_CONNECTED", "Not connected");
    const a = this.ep.getRemoteAddress();
    return { address: a.addr!.toString(), family: a.addr!.is4 ? "IPv4" : "IPv6", port: a.port };
  }

  private scheduleDrain(): void {
    if (this.draining) return;
    this.draining = true;
    queueMicrotask(() => {
      this.draining = false;
      this.drain();
    });
  }

  private drain(): void {
    const ep = this.ep;
    if (!ep || this.closed) return;
    for (;;) {
      let data: Uint8Array;
      let from: FullAddress | undefined;
      try {
        const r = ep.read();
        data = r.data;
        from = r.from;
      } catch (e) {
        if (e instanceof ErrWouldBlock) return;
        // A soft error (an ICMP port unreachable on a connected socket): node:dgram reports it as 'error'.
        this.emit("error", toNodeError(e, "recvmsg"));
        continue;
      }
      const addr = from?.addr;
      this.emit("message", Buffer.from(data.buffer, data.byteOffset, data.length), {
        address: addr?.toString() ?? "",
        family: addr?.is4 ? "IPv4" : "IPv6",
        port: from?.port ?? 0,
        size: data.length,
      } satisfies RemoteInfo);
      if (this.closed) return;
    }
  }

  close(cb?: () => void): this {
    if (this.closed) throw codeError("ERR_SOCKET_DGRAM_NOT_RUNNING", "Not running");
    if (cb) this.once("close", cb);
    this.closed = true;
    this.wq.unregister(this.entry);
    this.ep?.close();
    queueMicrotask(() => this.emit("close"));
    return this;
  }

  setBroadcast(flag: boolean): void {
    this.option(SockOpt.Broadcast, flag, "setBroadcast");
  }

  setTTL(ttl: number): number {
    this.option(SockOpt.TTL, ttl, "setTTL");
    return ttl;
  }

  setMulticastTTL(ttl: number): number {
    this.option(SockOpt.MulticastTTL, ttl, "setMulticastTTL");
    return ttl;
  }

  /** Joins `group` on the interface owning `iface` (or the one the route to the group picks). */
  addMembership(group: string, iface?: string): void {
    this.membership(SockOpt.AddMembership, group, iface, "addMembership");
  }

  dropMembership(group: string, iface?: string): void {
    this.membership(SockOpt.RemoveMembership, group, iface, "dropMembership");
  }

  private membership(
    opt: typeof SockOpt.AddMembership | typeof SockOpt.RemoveMembership,
    group: string,
    iface: string | undefined,
    syscall: string,
  ): void {
    const g = this.parse(group, syscall);
    const req = iface
      ? { multicastAddress: g, interfaceAddress: this.parse(iface, syscall) }
      : { multicastAddress: g };
    this.option(opt, req, syscall);
  }

  setRecvBufferSize(n: number): void {
    this.option(SockOpt.ReceiveBufferSize, n, "setRecvBufferSize");
  }
  setSendBufferSize(n: number): void {
    this.option(SockOpt.SendBufferSize, n, "setSendBufferSize");
  }
  getRecvBufferSize(): number {
    return this.endpoint().getSockOpt(SockOpt.ReceiveBufferSize) as number;
  }
  getSendBufferSize(): number {
    return this.endpoint().getSockOpt(SockOpt.SendBufferSize) as number;
  }

  private option(name: (typeof SockOpt)[keyof typeof SockOpt], value: unknown, syscall: string): void {
    try {
      this.endpoint().setSockOpt(name, value);
    } catch (e) {
      throw (e as NodeStyleError).code ? e : toNodeError(e, syscall);
    }
  }

  ref(): this {
    return this;
  }
  unref(): this {
    return this;
  }
}

function toBytes(msg: string | Uint8Array | readonly (string | Uint8Array)[]): Uint8Array {
  if (typeof msg === "string") return Buffer.from(msg);
  if (msg instanceof Uint8Array) return msg;
  return Buffer.concat(msg.map((m) => (typeof m === "string" ? Buffer.from(m) : m)));
}

/** `createSocket(stack, "udp4" | "udp6" | options, messageListener?)`, as node:dgram's. */
export function createSocket(
  stack: StackLike,
  typeOrOpts: SocketType | SocketOptions,
  listener?: MessageListener,
): Socket {
  const s = new Socket(stack, typeof typeOrOpts === "string" ? { type: typeOrOpts } : typeOrOpts);
  if (listener) s.on("message", listener);
  return s;
}
