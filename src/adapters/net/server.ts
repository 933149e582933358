/**
 * A `node:net`-style `Server` that accepts connections on a stack TCP listener,
 * or on a unix stream name (`listen({ path })`, in a `UnixNamespace`, no
 * filesystem).
 */
import { EventEmitter } from "node:events";
import type { Endpoint } from "../../stack/registration.ts";
import { Address } from "../../tcpip/address.ts";
import { ErrWouldBlock } from "../../tcpip/errors.ts";
import { SockOpt } from "../../tcpip/options.ts";
import { IPV4_PROTOCOL_NUMBER, IPV6_PROTOCOL_NUMBER, TCP_PROTOCOL_NUMBER } from "../../tcpip/protocols.ts";
import { UNIX_STREAM, type UnixNamespace, unixAddress } from "../../transport/unix/namespace.ts";
import { type Entry, EventIn, Queue } from "../../waiter/waiter.ts";
import { toNodeError } from "./errors.ts";
import { type ConnectOptions, type EndpointWithQueue, Socket, type StackLike } from "./socket.ts";
import { defaultUnixNamespace } from "./unix.ts";

export interface ServerOptions {
  allowHalfOpen?: boolean;
  noDelay?: boolean;
  keepAlive?: boolean;
  keepAliveInitialDelay?: number;
  /** The namespace for `listen({ path })` (default: the process-wide one). */
  unix?: UnixNamespace;
}

export interface ListenOptions {
  /** A unix stream socket name instead of a TCP port. */
  path?: string;
  port?: number;
  host?: string;
  backlog?: number;
  /** Only IPv6 on a `::` listener (dual-stack otherwise, like Linux's default). */
  ipv6Only?: boolean;
}

export class Server extends EventEmitter {
  private ep: Endpoint | undefined;
  private readonly wq = new Queue();
  private readonly sockets = new Set<Socket>();
  private readonly entry: Entry = { callback: () => this.acceptAll() };
  private closing = false;
  private path: string | undefined;
  maxConnections: number | undefined;

  constructor(
    private readonly stack: StackLike,
    private readonly opts: ServerOptions = {},
    connectionListener?: (s: Socket) => void,
  ) {
    super();
    if (connectionListener) this.on("connection", connectionListener);
  }

  get listening(): boolean {
    return this.ep !== undefined && !this.closing;
  }

  /** `listen(port?, host?, backlog?, cb?)`, `listen(path, cb?)` for a unix name, or `listen(options, cb?)`. */
  listen(
    portOrOpts?: number | string | ListenOptions,
    hostOrCb?: string | (() => void),
    backlogOrCb?: number | (() => void),
    cb?: () => void,
  ): this {
    const o: ListenOptions =
      typeof portOrOpts === "object"
        ? { ...portOrOpts }
        : typeof portOrOpts === "string"
          ? { path: portOrOpts }
          : { port: portOrOpts ?? 0 };
    let done: (() => void) | undefined;
    for (const a of [hostOrCb, backlogOrCb, cb]) {
      if (typeof a === "string") o.host = a;
      else if (typeof a === "number") o.backlog = a;
      else if (typeof a === "function") done = a;
    }
    if (done) this.once("listening", done);
    if (this.ep)
      throw Object.assign(new Error("Server is already listening"), { code: "ERR_SERVER_ALREADY_LISTEN" });
    if (o.path !== undefined) return this.listenUnix(o.path, o.backlog ?? 511);
    const host = o.host ?? "::";
    const addr = Address.tryParse(host);
    if (!addr) {
      queueMicrotask(() =>
        this.emit("error", Object.assign(new Error(`bad listen address ${host}`), { code: "EINVAL" })),
      );
      return this;
    }
    const ep = this.stack.newEndpoint(
      TCP_PROTOCOL_NUMBER,
      addr.is4 ? IPV4_PROTOCOL_NUMBER : IPV6_PROTOCOL_NUMBER,
      this.wq,
    );
    try {
      if (addr.is6 && o.ipv6Only) ep.setSockOpt(SockOpt.V6Only, true);
      // No ReuseAddress: our port manager lets any two ReuseAddress sockets share a port, while
      // Linux's SO_REUSEADDR never lets two listeners share one (node:net would get EADDRINUSE).
      // Accepted connections hold no port reservation, so re-listening after close works without it.
      ep.bind(addr.isUnspecified ? { port: o.port ?? 0 } : { addr, port: o.port ?? 0 });
      if (!ep.listen) throw new TypeError("endpoint cannot listen");
      ep.listen(o.backlog ?? 511);
    } catch (e) {
      try {
        ep.close();
      } catch {}
      queueMicrotask(() => this.emit("error", toNodeError(e, "listen", host, o.port)));
      return this;
    }
    return this.started(ep);
  }

  private listenUnix(path: string, backlog: number): this {
    const ep = (this.opts.unix ?? defaultUnixNamespace).newEndpoint(UNIX_STREAM, 0, this.wq);
    try {
      ep.bind(unixAddress(path));
      ep.listen!(backlog);
    } catch (e) {
      ep.close();
      queueMicrotask(() => this.emit("error", toNodeError(e, "listen", path)));
      return this;
    }
    this.path = path;
    return this.started(ep);
  }

  private started(ep: Endpoint): this {
    this.ep = ep;
    this.closing = false;
    this.wq.register(this.entry, EventIn);
    queueMicrotask(() => {
      this.emit("listening");
      this.acceptAll();
    });
    return this;
  }

  private acceptAll(): void {
    const ep = this.ep;
    if (!ep || this.closing) return;
    for (;;) {
      let accepted: EndpointWithQueue;
      try {
        if (!ep.accept) throw new TypeError("endpoint cannot accept");
        accepted = ep.accept();
      } catch (e) {
        if (e instanceof ErrWouldBlock) return;
        this.emit("error", toNodeError(e, "accept"));
        return;
      }
      if (this.maxConnections !== undefined && this.sockets.size >= this.maxConnections) {
        accepted.endpoint.close();
        continue;
      }
      if (this.opts.noDelay && this.path === undefined) accepted.endpoint.setSockOpt(SockOpt.NoDelay, true);
      const s = new Socket({
        endpoint: accepted,
        stack: this.stack,
        ...(this.opts.unix ? { unix: this.opts.unix } : {}),
        allowHalfOpen: this.opts.allowHalfOpen ?? false,
      });
      if (this.opts.keepAlive) s.setKeepAlive(true, this.opts.keepAliveInitialDelay ?? 0);
      this.sockets.add(s);
      s.once("close", () => {
        this.sockets.delete(s);
        this.maybeClosed();
      });
      this.emit("connection", s);
    }
  }

  /** `{ address, family, port }`, or the name for a unix listener (as node:net gives the path), or null. */
  address(): { address: string; family: string; port: number } | string | null {
    if (!this.ep) return null;
    if (this.path !== undefined) return this.path;
    const a = this.ep.getLocalAddress();
    const addr = a.addr ?? Address.ANY_V6;
    return { address: addr.toString(), family: addr.is4 ? "IPv4" : "IPv6", port: a.port };
  }

  getConnections(cb: (err: Error | null, n: number) => void): void {
    queueMicrotask(() => cb(null, this.sockets.size));
  }

  /** Stops accepting; `close` is emitted once every accepted socket has closed (as node:net). */
  close(cb?: (err?: Error) => void): this {
    if (!this.ep) {
      if (cb)
        queueMicrotask(() =>
          cb(Object.assign(new Error("Server is not running"), { code: "ERR_SERVER_NOT_RUNNING" })),
        );
      return this;
    }
    if (cb) this.once("close", () => cb());
    this.closing = true;
    this.wq.unregister(this.entry);
    try {
      this.ep.close();
    } catch {}
    this.maybeClosed();
    return this;
  }

  private maybeClosed(): void {
    if (this.closing && this.sockets.size === 0 && this.ep) {
      this.ep = undefined;
      this.path = undefined;
      queueMicrotask(() => this.emit("close"));
    }
  }

  /** Every accepted socket still open (for a clean shutdown of the appliance). */
  get connections(): ReadonlySet<Socket> {
    return this.sockets;
  }

  ref(): this {
    return this;
  }
  unref(): this {
    return this;
  }
}

export function createServer(
  stack: StackLike,
  opts?: ServerOptions | ((s: Socket) => void),
  listener?: (s: Socket) => void,
): Server {
  if (typeof opts === "function") return new Server(stack, {}, opts);
  return new Server(stack, opts ?? {}, listener);
}

/** `connect(stack, port, host?, cb?)`, `connect(stack, path, cb?)` (unix name) or `connect(stack, options, cb?)`. */
export function connect(
  stack: StackLike,
  portOrOpts: number | string | (ConnectOptions & { unix?: UnixNamespace; allowHalfOpen?: boolean }),
  host?: string | (() => void),
  cb?: () => void,
): Socket {
  const o = typeof portOrOpts === "object" ? portOrOpts : {};
  const s = new Socket({
    stack,
    ...(o.unix ? { unix: o.unix } : {}),
    ...(o.allowHalfOpen !== undefined ? { allowHalfOpen: o.allowHalfOpen } : {}),
  });
  return s.connect(portOrOpts, host, cb);
}

export const createConnection = connect;
