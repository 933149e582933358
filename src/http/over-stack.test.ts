/**
 * HTTP/1.1 served over the user-space stack: a Hono app behind `serveFetch`
 * (the runtime's node:http parser fed our sockets), reached by user-space
 * clients: a raw HTTP/1.1 client over `adapters/net` (to control the bytes on
 * the wire: pipelining, chunked bodies) and node:http's client with our socket
 * as its `createConnection`.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import * as http from "node:http";
import { Readable } from "node:stream";
import { Hono } from "hono";
import { connect, createServer, type Server } from "../adapters/net/server.ts";
import type { Socket } from "../adapters/net/socket.ts";
import { loopbackStack } from "../adapters/testing/loopback-stack.ts";
import { UnixNamespace } from "../transport/unix/namespace.ts";
import { type FetchServer, serveFetch } from "./over-stack.ts";

const HOST = "127.0.0.1";
const stack = loopbackStack();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function app(): Hono {
  const a = new Hono();
  a.get("/hello", (c) => c.text("hello from the user-space stack"));
  a.post("/echo", async (c) => c.body(await c.req.arrayBuffer()));
  // Reads the request body as a stream: bytes and their SHA-256.
  a.post("/digest", async (c) => {
    const h = createHash("sha256");
    let n = 0;
    const body = c.req.raw.body;
    if (body) {
      for await (const chunk of body) {
        h.update(chunk);
        n += chunk.length;
      }
    }
    return c.json({ bytes: n, sha256: h.digest("hex") });
  });
  // `n` bytes of a pattern.
  a.get("/bytes/:n", (c) => c.body(pattern(Number(c.req.param("n"))).buffer as ArrayBuffer));
  // A body produced over time without a length: node:http sends it chunked.
  a.get("/stream", () => {
    let i = 0;
    const body = new ReadableStream<Uint8Array>({
      async pull(ctl) {
        if (i === 5) {
          ctl.close();
          return;
        }
        await sleep(2);
        ctl.enqueue(new TextEncoder().encode(`part ${i++};`));
      },
    });
    return new Response(body, { headers: { "content-type": "text/plain" } });
  });
  a.get("/slow", async (c) => {
    await sleep(300);
    return c.text("late");
  });
  return a;
}

function pattern(n: number): Uint8Array<ArrayBuffer> {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + (i >> 10)) & 0xff;
  return b;
}

interface Running {
  port: number;
  fetchServer: FetchServer;
  server: Server;
  connections: number;
}

async function serve(
  opts: { keepAliveTimeoutMs?: number; requestTimeoutMs?: number; idleMs?: number } = {},
): Promise<Running> {
  const fetchServer = serveFetch(
    (req) => app().fetch(req),
    opts.idleMs ? { keepAliveTimeoutMs: opts.idleMs } : {},
  );
  const r: Running = { port: 0, fetchServer, server: undefined as unknown as Server, connections: 0 };
  r.server = createServer(stack, { allowHalfOpen: true }, (s) => {
    r.connections++;
    // As services.ts does: a peer's reset must not become an unhandled 'error'.
    s.on("error", () => {});
    // serveFetch enforces the idle and request timeouts itself (Bun's node:http does not
    // apply them to sockets handed over through 'connection').
    fetchServer.handle(s);
  });
  await new Promise<void>((res) => r.server.listen(0, HOST, res));
  r.port = (r.server.address() as { port: number }).port;
  return r;
}

/** A minimal HTTP/1.1 response reader over a socket, for tests that need to see the wire. */
class RawClient {
  private chunks: Buffer[] = [];
  private size = 0;
  private ended = false;
  private wake: (() => void) | undefined;
  readonly socket: Socket;

  constructor(port: number) {
    this.socket = connect(stack, { port, host: HOST });
    this.socket.on("data", (d: Buffer) => {
      this.chunks.push(d);
      this.size += d.length;
      this.wake?.();
    });
    this.socket.on("end", () => {
      this.ended = true;
      this.wake?.();
    });
  }

  /** Whether the server closed its side. */
  get closed(): boolean {
    return this.ended;
  }

  private async need(n: number): Promise<void> {
    while (this.size < n) {
      if (this.ended) throw new Error(`connection ended with ${this.size} of ${n} bytes`);
      await new Promise<void>((r) => {
        this.wake = r;
      });
      this.wake = undefined;
    }
  }

  private take(n: number): Buffer {
    const all = Buffer.concat(this.chunks);
    this.chunks = [all.subarray(n)];
    this.size = all.length - n;
    return all.subarray(0, n);
  }

  private async line(): Promise<string> {
    for (;;) {
      const all = Buffer.concat(this.chunks);
      this.chunks = [all];
      const i = all.indexOf("\r\n");
      if (i >= 0)
        return this.take(i + 2)
          .subarray(0, i)
          .toString("latin1");
      await this.need(all.length + 1);
    }
  }

  async waitEnd(): Promise<void> {
    while (!this.ended) {
      await new Promise<void>((r) => {
        this.wake = r;
      });
      this.wake = undefined;
    }
  }

  async response(): Promise<{ status: number; headers: Record<string, string>; body: Buffer }> {
    const status = Number((await this.line()).split(" ")[1]);
    const headers: Record<string, string> = {};
    for (;;) {
      const l = await this.line();
      if (l === "") break;
      const i = l.indexOf(":");
      headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim();
    }
    let body: Buffer;
    if (headers["transfer-encoding"] === "chunked") {
      const parts: Buffer[] = [];
      for (;;) {
        const n = Number.parseInt(await this.line(), 16);
        if (n === 0) {
          while ((await this.line()) !== "") {}
          break;
        }
        await this.need(n + 2);
        parts.push(Buffer.from(this.take(n + 2).subarray(0, n)));
      }
      body = Buffer.concat(parts);
    } else {
      const n = Number(headers["content-length"] ?? 0);
      await this.need(n);
      body = Buffer.from(this.take(n));
    }
    return { status, headers, body };
  }
}

let main: Running;
beforeAll(async () => {
  main = await serve();
});
afterAll(() => {
  main.fetchServer.close();
  for (const s of main.server.connections) s.destroy();
  main.server.close();
});

describe("HTTP/1.1 over the user-space stack", () => {
  test("keep-alive: several requests on one connection", async () => {
    const before = main.connections;
    const c = new RawClient(main.port);
    for (let i = 0; i < 3; i++) {
      c.socket.write(`GET /hello HTTP/1.1\r\nHost: x\r\n\r\n`);
      const r = await c.response();
      expect(r.status).toBe(200);
      expect(r.headers.connection).toBe("keep-alive");
      expect(r.body.toString()).toBe("hello from the user-space stack");
    }
    expect(main.connections - before).toBe(1);
    c.socket.end("GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    const last = await c.response();
    expect(last.headers.connection).toBe("close");
    await c.waitEnd();
  });

  test("pipelining: three requests in one write are answered in order", async () => {
    const c = new RawClient(main.port);
    c.socket.write(
      "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n" +
        "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n" +
        "GET /bytes/10 HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    const a = await c.response();
    const b = await c.response();
    const d = await c.response();
    expect(a.body.toString()).toBe("hello from the user-space stack");
    expect(b.body.toString()).toBe("hello world");
    expect(d.body).toEqual(Buffer.from(pattern(10)));
    c.socket.destroy();
  });

  test("chunked request body sent over time, and a chunked response", async () => {
    const c = new RawClient(main.port);
    c.socket.write("POST /digest HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
    const h = createHash("sha256");
    let n = 0;
    for (let i = 0; i < 20; i++) {
      const part = Buffer.from(`chunk number ${i} `.repeat(i + 1));
      h.update(part);
      n += part.length;
      c.socket.write(`${part.length.toString(16)}\r\n`);
      c.socket.write(part);
      c.socket.write("\r\n");
      if (i % 5 === 0) await sleep(1);
    }
    c.socket.write("0\r\n\r\n");
    const r = await c.response();
    expect(JSON.parse(r.body.toString())).toEqual({ bytes: n, sha256: h.digest("hex") });

    c.socket.write("GET /stream HTTP/1.1\r\nHost: x\r\n\r\n");
    const s = await c.response();
    expect(s.headers["transfer-encoding"]).toBe("chunked");
    expect(s.body.toString()).toBe("part 0;part 1;part 2;part 3;part 4;");
    c.socket.destroy();
  });

  test("node:http's client over a user-space socket (createConnection)", async () => {
    const before = main.connections;
    const body = await new Promise<string>((resolve, reject) => {
      const req = http.request(
        {
          host: HOST,
          port: main.port,
          path: "/hello",
          createConnection: () => connect(stack, { port: main.port, host: HOST }) as never,
        },
        (res) => {
          let s = "";
          res.setEncoding("utf8");
          res.on("data", (d: string) => {
            s += d;
          });
          res.on("end", () => resolve(s));
        },
      );
      req.on("error", reject);
      req.end();
    });
    expect(body).toBe("hello from the user-space stack");
    expect(main.connections - before).toBe(1);
  });

  test("a 24 MB chunked upload streams through with its digest intact", async () => {
    const total = 24 * 1024 * 1024;
    const chunk = Buffer.from(pattern(256 * 1024));
    const h = createHash("sha256");
    for (let i = 0; i < total / chunk.length; i++) h.update(chunk);
    const expected = h.digest("hex");
    const result = await new Promise<{ bytes: number; sha256: string }>((resolve, reject) => {
      const req = http.request(
        {
          method: "POST",
          host: HOST,
          port: main.port,
          path: "/digest",
          createConnection: () => connect(stack, { port: main.port, host: HOST }) as never,
        },
        (res) => {
          let s = "";
          res.on("data", (d: Buffer) => {
            s += d.toString();
          });
          res.on("end", () => resolve(JSON.parse(s)));
        },
      );
      req.on("error", reject);
      let sent = 0;
      Readable.from(
        (function* () {
          while (sent < total) {
            sent += chunk.length;
            yield chunk;
          }
        })(),
      ).pipe(req);
    });
    expect(result).toEqual({ bytes: total, sha256: expected });
  }, 60_000);

  test("a 24 MB download arrives whole, with backpressure from a slow-ish reader", async () => {
    const total = 24 * 1024 * 1024;
    const h = createHash("sha256");
    h.update(pattern(total));
    const expected = h.digest("hex");
    const c = new RawClient(main.port);
    c.socket.write(`GET /bytes/${total} HTTP/1.1\r\nHost: x\r\n\r\n`);
    const r = await c.response();
    expect(r.status).toBe(200);
    expect(r.body.length).toBe(total);
    expect(createHash("sha256").update(r.body).digest("hex")).toBe(expected);
    c.socket.destroy();
  }, 60_000);
});

describe("HTTP over a unix name", () => {
  test("the same app answers on a unix stream listener", async () => {
    const ns = new UnixNamespace();
    const fetchServer = serveFetch((req) => app().fetch(req));
    const server = createServer(ns, { allowHalfOpen: true, unix: ns }, (s) => {
      s.on("error", () => {});
      fetchServer.handle(s);
    });
    await new Promise<void>((r) => server.listen({ path: "\0http" }, r));
    const body = await new Promise<string>((resolve, reject) => {
      const req = http.request(
        { path: "/hello", createConnection: () => connect(ns, { path: "\0http", unix: ns }) as never },
        (res) => {
          let s = "";
          res.on("data", (d: Buffer) => {
            s += d.toString();
          });
          res.on("end", () => resolve(s));
        },
      );
      req.on("error", reject);
      req.end();
    });
    expect(body).toBe("hello from the user-space stack");
    fetchServer.close();
    for (const s of server.connections) s.destroy();
    await new Promise((r) => server.close(r));
    expect(ns.list()).toEqual([]);
  });
});

describe("timeouts", () => {
  test("an idle keep-alive connection is closed by the socket's idle timer", async () => {
    const s = await serve({ idleMs: 50 });
    const c = new RawClient(s.port);
    c.socket.write("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    const r = await c.response();
    expect(r.headers.connection).toBe("keep-alive");
    await c.waitEnd();
    expect(c.closed).toBe(true);
    s.fetchServer.close();
    s.server.close();
  });

  test("a request whose headers never finish is closed by the socket's idle timer", async () => {
    const s = await serve({ idleMs: 50 });
    const c = new RawClient(s.port);
    c.socket.write("GET /hello HTTP/1.1\r\nHo");
    await c.waitEnd();
    expect(c.closed).toBe(true);
    s.fetchServer.close();
    s.server.close();
  });

  test("a client's socket timeout fires while a slow handler works; the answer still comes", async () => {
    const c = new RawClient(main.port);
    let timedOut = false;
    c.socket.setTimeout(50, () => {
      timedOut = true;
    });
    c.socket.write("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n");
    const r = await c.response();
    expect(timedOut).toBe(true);
    expect(r.body.toString()).toBe("late");
    c.socket.destroy();
  });
});
