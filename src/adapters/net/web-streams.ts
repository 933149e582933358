/**
 * A Web Streams face over a stack connection, for code that prefers
 * `ReadableStream`/`WritableStream` to Node streams. The shape follows the
 * WinterTC / Cloudflare sockets API: `{ readable, writable, opened, closed,
 * close() }`.
 *
 * Backpressure is direct: the readable side has a high-water mark of zero, so
 * bytes are read from the endpoint only when a reader asks (unread bytes stay
 * in the TCP receive buffer and close the window), and a write resolves only
 * once the endpoint's send buffer took the whole chunk.
 */
import type { Endpoint } from "../../stack/registration.ts";
import { Address } from "../../tcpip/address.ts";
import { ErrClosedForReceive, ErrConnectStarted, ErrWouldBlock } from "../../tcpip/errors.ts";
import type { FullAddress } from "../../tcpip/full-address.ts";
import { SockOpt } from "../../tcpip/options.ts";
import {
  IPV4_PROTOCOL_NUMBER,
  IPV6_PROTOCOL_NUMBER,
  ShutdownFlags,
  TCP_PROTOCOL_NUMBER,
} from "../../tcpip/protocols.ts";
import { UNIX_STREAM, type UnixNamespace, unixAddress } from "../../transport/unix/namespace.ts";
import { EventErr, EventHUp, EventIn, EventOut, Queue, waitFor } from "../../waiter/waiter.ts";
import { toNodeError } from "./errors.ts";
import type { EndpointWithQueue, StackLike } from "./socket.ts";
import { defaultUnixNamespace } from "./unix.ts";

/** Where to connect or listen: a TCP host and port, or a unix name. */
export interface StreamAddress {
  hostname?: string;
  port?: number;
  path?: string;
  /** The namespace for `path` (default: the process-wide one). */
  unix?: UnixNamespace;
}

export interface StreamSocketInfo {
  remoteAddress?: string;
  remotePort?: number;
  localAddress?: string;
  localPort?: number;
}

/** Most bytes one read hands to the stream. */
const READ_CHUNK = 64 * 1024;

export class StreamSocket {
  readonly readable: ReadableStream<Uint8Array>;
  readonly writable: WritableStream<Uint8Array>;
  /** Resolves with the addresses once connected; rejects with a Node-style error (`ECONNREFUSED`, ...). */
  readonly opened: Promise<StreamSocketInfo>;
  /** Resolves once both directions are done or `close()` was called; rejects on a connection error. */
  readonly closed: Promise<void>;
  private resolveClosed!: () => void;
  private rejectClosed!: (e: Error) => void;
  private readDone = false;
  private writeDone = false;
  private isClosed = false;

  constructor(
    private readonly ep: Endpoint,
    private readonly q: Queue,
    connecting?: Promise<void>,
  ) {
    this.closed = new Promise<void>((res, rej) => {
      this.resolveClosed = res;
      this.rejectClosed = rej;
    });
    // A rejection nobody awaits is not an unhandled one: `opened`/the streams report it too.
    this.closed.catch(() => {});
    this.opened = (connecting ?? Promise.resolve()).then(() => this.info());
    this.opened.catch(() => {});
    const ready = (mask: number) => this.ep.readiness(mask);
    this.readable = new ReadableStream<Uint8Array>(
      {
        pull: async (ctl) => {
          await this.opened;
          for (;;) {
            try {
              const { data } = this.ep.read(READ_CHUNK);
              if (data.length === 0) continue;
              ctl.enqueue(data);
              return;
            } catch (e) {
              if (e instanceof ErrWouldBlock) {
                await waitFor(this.q, EventIn, ready);
                continue;
              }
              if (e instanceof ErrClosedForReceive) {
                ctl.close();
                this.readDone = true;
                this.maybeClosed();
                return;
              }
              throw this.fail(e, "read");
            }
          }
        },
        cancel: () => {
          this.readDone = true;
          try {
            this.ep.shutdown(ShutdownFlags.Read);
          } catch {}
          this.maybeClosed();
        },
      },
      { highWaterMark: 0 },
    );
    this.writable = new WritableStream<Uint8Array>(
      {
        write: async (chunk) => {
          await this.opened;
          let off = 0;
          while (off < chunk.length) {
            try {
              off += this.ep.write(chunk.subarray(off));
            } catch (e) {
              if (e instanceof ErrWouldBlock) {
                await waitFor(this.q, EventOut, ready);
                continue;
              }
              throw this.fail(e, "write");
            }
          }
        },
        close: async () => {
          await this.opened;
          // A half-close: the peer reads to the end of the stream, and may still answer.
          this.ep.shutdown(ShutdownFlags.Write);
          this.writeDone = true;
          this.maybeClosed();
        },
        abort: () => {
          // Aborting the writer resets the connection (RST), like resetAndDestroy.
          try {
            this.ep.setSockOpt(SockOpt.Linger, 0);
          } catch {}
          this.finish();
        },
      },
      { highWaterMark: 1 },
    );
  }

  private info(): StreamSocketInfo {
    const out: StreamSocketInfo = {};
    const put = (a: FullAddress, side: "remote" | "local") => {
      if (!a.addr) return;
      out[`${side}Address`] = a.addr.toString();
      out[`${side}Port`] = a.port;
    };
    try {
      put(this.ep.getLocalAddress(), "local");
      put(this.ep.getRemoteAddress(), "remote");
    } catch {}
    return out;
  }

  private fail(e: unknown, syscall: string): Error {
    const err = toNodeError(e, syscall);
    this.rejectClosed(err);
    this.finish();
    return err;
  }

  private maybeClosed(): void {
    if (this.readDone && this.writeDone) this.finish();
  }

  private finish(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    try {
      this.ep.close();
    } catch {}
    this.resolveClosed();
  }

  /** Closes both directions now (unread data makes TCP send a RST, as close(2) does). */
  async close(): Promise<void> {
    this.finish();
    return this.closed;
  }
}

/** The Web Streams face of an endpoint that is connected already (from `accept`). */
export function streamSocket(epq: EndpointWithQueue): StreamSocket {
  const q = epq.waiterQueue;
  if (!(q instanceof Queue))
    throw new TypeError("streamSocket needs an endpoint whose queue is a waiter.Queue");
  return new StreamSocket(epq.endpoint, q);
}

/** Opens a connection (TCP to `hostname:port`, or a unix name) and returns its Web Streams face. */
export function connectStream(stack: StackLike, to: StreamAddress): StreamSocket {
  const q = new Queue();
  if (to.path !== undefined) {
    const ep = (to.unix ?? defaultUnixNamespace).newEndpoint(UNIX_STREAM, 0, q);
    return new StreamSocket(ep, q, startConnect(ep, q, unixAddress(to.path), to.path, undefined));
  }
  const host = to.hostname ?? "127.0.0.1";
  const port = to.port ?? 0;
  const addr = Address.tryParse(host === "localhost" ? "127.0.0.1" : host);
  const ep = stack.newEndpoint(
    TCP_PROTOCOL_NUMBER,
    addr && !addr.is4 ? IPV6_PROTOCOL_NUMBER : IPV4_PROTOCOL_NUMBER,
    q,
  );
  const connecting = addr
    ? startConnect(ep, q, { addr, port }, host, port)
    : Promise.reject(Object.assign(new Error(`connect EINVAL ${host}`), { code: "EINVAL" }));
  return new StreamSocket(ep, q, connecting);
}

async function startConnect(
  ep: Endpoint,
  q: Queue,
  to: FullAddress,
  host: string,
  port: number | undefined,
): Promise<void> {
  try {
    ep.connect(to);
  } catch (e) {
    if (!(e instanceof ErrConnectStarted)) throw toNodeError(e, "connect", host, port);
    await waitFor(q, EventOut, (m) => ep.readiness(m));
  }
  const err = ep.getSockOpt(SockOpt.Error);
  if (err) throw toNodeError(err, "connect", host, port);
  if (ep.readiness(EventErr | EventHUp) && !ep.readiness(EventOut)) {
    throw toNodeError(new ErrClosedForReceive(), "connect", host, port);
  }
}

/** A listener whose connections arrive as a `ReadableStream` of `StreamSocket`s. */
export interface StreamListener {
  readonly accepted: ReadableStream<StreamSocket>;
  /** The bound port (TCP) or name (unix). */
  readonly port: number;
  close(): void;
}

/** Listens on `hostname:port` (TCP; default all addresses) or on a unix name. Throws Node-style errors (`EADDRINUSE`). */
export function listenStreams(stack: StackLike, at: StreamAddress & { backlog?: number }): StreamListener {
  const q = new Queue();
  let ep: Endpoint;
  try {
    if (at.path !== undefined) {
      ep = (at.unix ?? defaultUnixNamespace).newEndpoint(UNIX_STREAM, 0, q);
      ep.bind(unixAddress(at.path));
    } else {
      const addr = at.hostname ? Address.parse(at.hostname) : undefined;
      ep = stack.newEndpoint(TCP_PROTOCOL_NUMBER, addr?.is4 ? IPV4_PROTOCOL_NUMBER : IPV6_PROTOCOL_NUMBER, q);
      ep.bind(addr && !addr.isUnspecified ? { addr, port: at.port ?? 0 } : { port: at.port ?? 0 });
    }
    ep.listen!(at.backlog ?? 511);
  } catch (e) {
    throw toNodeError(e, "listen", at.path ?? at.hostname, at.port);
  }
  let closed = false;
  const accepted = new ReadableStream<StreamSocket>(
    {
      pull: async (ctl) => {
        for (;;) {
          if (closed) {
            ctl.close();
            return;
          }
          try {
            ctl.enqueue(streamSocket(ep.accept!()));
            return;
          } catch (e) {
            if (!(e instanceof ErrWouldBlock)) throw toNodeError(e, "accept");
            await waitFor(q, EventIn, (m) => ep.readiness(m));
          }
        }
      },
      cancel: () => {
        closed = true;
        ep.close();
      },
    },
    { highWaterMark: 0 },
  );
  return {
    accepted,
    port: ep.getLocalAddress().port,
    close() {
      if (closed) return;
      closed = true;
      ep.close();
    },
  };
}
