/**
 * One behaviour suite, run twice: against our sockets on the user-space stack
 * and against the runtime's `node:net` on the host's loopback (127.0.0.1 only).
 * Where the two differ it shows here, and each deliberate difference is
 * written down in a comment (and in docs/adapters.md).
 *
 * Every test below passes unchanged on both. Deliberate differences, outside
 * what the suite runs:
 * - our `createServer`/`connect` take the stack first (`createServer(stack, ...)`);
 * - no DNS: a host is an IP literal or "localhost" (127.0.0.1), so no `lookup` event;
 * - `ref()`/`unref()` are no-ops (the stack's timers never hold the process open);
 * - unix sockets live in a `UnixNamespace` (abstract names, no filesystem): `listen(path)`
 *   never fails with EACCES/ENOENT, and a full backlog fails `connect` with EAGAIN.
 */
import { afterAll, describe, expect, test } from "bun:test";
import type { EventEmitter } from "node:events";
import * as nodeNet from "node:net";
import { loopbackStack } from "../testing/loopback-stack.ts";
import { connect, createServer } from "./server.ts";

/** The surface both implementations share, as the suite uses it. */
interface SocketLike extends nodeNet.Socket {}
interface ServerLike extends Pick<EventEmitter, "on" | "once"> {
  listen(port: number, host: string, cb?: () => void): unknown;
  address(): unknown;
  close(cb?: (err?: Error) => void): unknown;
  getConnections(cb: (err: Error | null, n: number) => void): void;
}
interface NetImpl {
  name: string;
  createServer(opts: { allowHalfOpen?: boolean }, listener?: (s: SocketLike) => void): ServerLike;
  connect(opts: { port: number; host: string; timeout?: number }): SocketLike;
  /** Our stack only: the peer's advertised window and the unread bytes, to check backpressure reaches TCP. */
  tcp?: boolean;
  /** Whether the implementation sends a RST from `resetAndDestroy` (both do; the flag documents it). */
}

const stack = loopbackStack();
const ours: NetImpl = {
  name: "adapters/net on the user-space stack",
  createServer: (opts, l) => createServer(stack, opts, l as never) as unknown as ServerLike,
  connect: (opts) => connect(stack, opts) as unknown as SocketLike,
  tcp: true,
};
const theirs: NetImpl = {
  name: "node:net on the host loopback",
  createServer: (opts, l) => nodeNet.createServer(opts, l as never) as unknown as ServerLike,
  connect: (opts) => nodeNet.connect(opts),
};

const HOST = "127.0.0.1";

function listen(srv: ServerLike, port = 0): Promise<number> {
  return new Promise((resolve, reject) => {
    srv.once("error", reject as never);
    srv.listen(port, HOST, () => resolve((srv.address() as nodeNet.AddressInfo).port));
  });
}

function closeServer(srv: ServerLike): Promise<void> {
  return new Promise((resolve) => srv.close(() => resolve()));
}

function once<T = unknown>(em: Pick<EventEmitter, "once">, ev: string) {
  return new Promise<T>((resolve) => em.once(ev, (...a: unknown[]) => resolve(a[0] as T)));
}

function nextConnection(srv: ServerLike): Promise<SocketLike> {
  return new Promise((resolve) => srv.once("connection", resolve as never));
}

/** A server without a listener, a client connected to it, and the server's side of that connection. */
async function connectedPair(impl: NetImpl): Promise<{ srv: ServerLike; c: SocketLike; s: SocketLike }> {
  const srv = impl.createServer({});
  const peer = nextConnection(srv);
  const port = await listen(srv);
  const c = impl.connect({ port, host: HOST });
  await once(c, "connect");
  return { srv, c, s: await peer };
}

function collect(s: SocketLike): Promise<Buffer> {
  const chunks: Buffer[] = [];
  s.on("data", (d: Buffer) => chunks.push(d));
  return new Promise((resolve, reject) => {
    s.on("end", () => resolve(Buffer.concat(chunks)));
    s.on("error", reject);
  });
}

function pattern(n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7 + (i >> 8)) & 0xff;
  return b;
}

const sockets: SocketLike[] = [];
afterAll(() => {
  for (const s of sockets) s.destroy();
});

for (const impl of [ours, theirs]) {
  describe(impl.name, () => {
    test("echo: bytes come back whole; connect, data, end and close in order; byte counters", async () => {
      const srv = impl.createServer({}, (s) => s.pipe(s));
      const port = await listen(srv);
      const c = impl.connect({ port, host: HOST });
      const events: string[] = [];
      c.on("connect", () => events.push("connect"));
      c.once("data", () => events.push("data"));
      const closed = once<boolean>(c, "close");
      const data = pattern(300_000);
      const got = collect(c);
      c.end(data);
      const body = await got;
      events.push("end");
      const hadError = await closed;
      events.push("close");
      expect(body.equals(data)).toBe(true);
      expect(events).toEqual(["connect", "data", "end", "close"]);
      expect(hadError).toBe(false);
      expect(c.bytesWritten).toBe(data.length);
      expect(c.bytesRead).toBe(data.length);
      await closeServer(srv);
    });

    test("addresses: each side sees the other's port; address() of server and socket", async () => {
      const srv = impl.createServer({});
      const accepted = nextConnection(srv);
      const port = await listen(srv);
      expect(srv.address()).toEqual({ address: HOST, family: "IPv4", port });
      const c = impl.connect({ port, host: HOST });
      await once(c, "connect");
      const serverSide = await accepted;
      expect(c.remoteAddress).toBe(HOST);
      expect(c.remotePort).toBe(port);
      expect(c.remoteFamily).toBe("IPv4");
      expect(c.localAddress).toBe(HOST);
      expect(c.address()).toEqual({ address: HOST, family: "IPv4", port: c.localPort! });
      expect(serverSide.remotePort).toBe(c.localPort!);
      expect(serverSide.localPort).toBe(port);
      expect(serverSide.remoteAddress).toBe(HOST);
      c.destroy();
      serverSide.destroy();
      await closeServer(srv);
    });

    test("end() is a half-close: with allowHalfOpen the server still answers after the client's FIN", async () => {
      const srv = impl.createServer({ allowHalfOpen: true }, (s) => {
        const chunks: Buffer[] = [];
        s.on("data", (d: Buffer) => chunks.push(d));
        s.on("end", () => {
          // The client can no longer send, but still reads.
          s.end(`got ${Buffer.concat(chunks).length} bytes`);
        });
      });
      const port = await listen(srv);
      const c = impl.connect({ port, host: HOST });
      const reply = collect(c);
      const closed = once(c, "close");
      c.end("hello world");
      expect((await reply).toString()).toBe("got 11 bytes");
      await closed;
      await closeServer(srv);
    });

    test("without allowHalfOpen the server's side ends itself when the client ends", async () => {
      const srv = impl.createServer({});
      const serverClosed = nextConnection(srv).then((s) => {
        s.resume();
        return once(s, "close");
      });
      const port = await listen(srv);
      const c = impl.connect({ port, host: HOST });
      const got = collect(c);
      c.end("x");
      expect((await got).length).toBe(0);
      await serverClosed;
      await closeServer(srv);
    });

    test("ECONNREFUSED when nothing listens; then close with hadError", async () => {
      const srv = impl.createServer({});
      const port = await listen(srv);
      await closeServer(srv);
      const c = impl.connect({ port, host: HOST });
      const closed = once<boolean>(c, "close");
      const err = await once<NodeJS.ErrnoException>(c, "error");
      expect(err.code).toBe("ECONNREFUSED");
      expect(err.syscall).toBe("connect");
      expect(await closed).toBe(true);
    });

    test("EADDRINUSE when a second server listens on a taken port", async () => {
      const a = impl.createServer({});
      const port = await listen(a);
      const b = impl.createServer({});
      const err = await listen(b, port).then(
        () => undefined,
        (e: NodeJS.ErrnoException) => e,
      );
      expect(err?.code).toBe("EADDRINUSE");
      await closeServer(a);
    });

    test("destroy() closes with a FIN: the peer sees end, then close without error", async () => {
      const { srv, c, s } = await connectedPair(impl);
      const ended = collect(s);
      const closed = once<boolean>(s, "close");
      c.destroy();
      expect((await ended).length).toBe(0);
      expect(await closed).toBe(false);
      expect(c.destroyed).toBe(true);
      await closeServer(srv);
    });

    test("resetAndDestroy() sends a RST: the peer gets ECONNRESET", async () => {
      const { srv, c, s } = await connectedPair(impl);
      s.resume();
      const err = once<NodeJS.ErrnoException>(s, "error");
      const closed = once<boolean>(s, "close");
      c.resetAndDestroy();
      expect((await err).code).toBe("ECONNRESET");
      expect(await closed).toBe(true);
      await closeServer(srv);
    });

    test("setTimeout: an idle socket emits timeout and stays open; 0 turns it off", async () => {
      const { srv, c, s } = await connectedPair(impl);
      expect(c.setTimeout(30)).toBe(c);
      expect(c.timeout).toBe(30);
      await once(c, "timeout");
      expect(c.destroyed).toBe(false);
      c.setTimeout(0);
      expect(c.timeout).toBe(0);
      c.destroy();
      s.destroy();
      await closeServer(srv);
    });

    test("connect({ timeout }) arms the idle timer like setTimeout", async () => {
      const srv = impl.createServer({}, () => {});
      const port = await listen(srv);
      const c = impl.connect({ port, host: HOST, timeout: 20 });
      await once(c, "timeout");
      c.destroy();
      srv.close();
    });

    test("setNoDelay and setKeepAlive are chainable on an open socket", async () => {
      const srv = impl.createServer({}, (s) => s.resume());
      const port = await listen(srv);
      const c = impl.connect({ port, host: HOST });
      await once(c, "connect");
      expect(c.setNoDelay(true)).toBe(c);
      expect(c.setKeepAlive(true, 1000)).toBe(c);
      c.end();
      await once(c, "close");
      await closeServer(srv);
    });

    test("backpressure: with a reader that does not read, write() returns false; drain follows reading", async () => {
      const { srv, c, s } = await connectedPair(impl);
      s.pause();
      const chunk = pattern(64 * 1024);
      let accepted = 0;
      // Write until the socket says stop; give the peer's TCP time to fill its window in between.
      for (let i = 0; i < 2000; i++) {
        accepted += chunk.length;
        if (!c.write(chunk)) break;
        if (i % 8 === 7) await new Promise((r) => setTimeout(r, 1));
      }
      expect(c.writableNeedDrain).toBe(true);
      // Bounded: nowhere near the 128 MiB a never-blocking writer would have queued.
      expect(accepted).toBeLessThan(64 * 1024 * 1024);
      const drained = once(c, "drain");
      let received = 0;
      s.on("data", (d: Buffer) => {
        received += d.length;
      });
      s.resume();
      await drained;
      c.end();
      await once(s, "end");
      expect(received).toBe(accepted);
      await closeServer(srv);
    });

    test("write after end fails with ERR_STREAM_WRITE_AFTER_END", async () => {
      const srv = impl.createServer({}, (s) => s.resume());
      const port = await listen(srv);
      const c = impl.connect({ port, host: HOST });
      await once(c, "connect");
      c.end();
      const err = once<NodeJS.ErrnoException>(c, "error");
      c.write("late");
      expect((await err).code).toBe("ERR_STREAM_WRITE_AFTER_END");
      await closeServer(srv);
    });

    test("server.close() waits for open connections; getConnections counts them", async () => {
      const { srv, c, s } = await connectedPair(impl);
      const n = await new Promise<number>((r) => srv.getConnections((_e, k) => r(k)));
      expect(n).toBe(1);
      let closed = false;
      srv.close(() => {
        closed = true;
      });
      await new Promise((r) => setTimeout(r, 10));
      expect(closed).toBe(false);
      s.destroy();
      c.destroy();
      await new Promise<void>((r) => {
        const t = setInterval(() => {
          if (closed) {
            clearInterval(t);
            r();
          }
        }, 2);
      });
    });

    test("small writes queued before connect and made from write callbacks all arrive, in order", async () => {
      const srv = impl.createServer({}, (s) => s.pipe(s));
      const port = await listen(srv);
      const c = impl.connect({ port, host: HOST });
      const got = collect(c);
      c.write("a");
      c.write("b", () => c.write("c", () => c.end("d")));
      c.write("e");
      expect((await got).toString()).toBe("abecd");
      await closeServer(srv);
    });

    test("many short connections in parallel all echo", async () => {
      const srv = impl.createServer({}, (s) => s.pipe(s));
      const port = await listen(srv);
      const results = await Promise.all(
        Array.from({ length: 20 }, async (_, i) => {
          const c = impl.connect({ port, host: HOST });
          const got = collect(c);
          c.end(`message ${i}`);
          return (await got).toString();
        }),
      );
      expect(results).toEqual(Array.from({ length: 20 }, (_, i) => `message ${i}`));
      await closeServer(srv);
    });
  });
}
