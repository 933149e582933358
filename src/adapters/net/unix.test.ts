/** adapters/net over unix stream endpoints: `listen({ path })` and `connect({ path })` in a namespace. */
import { expect, test } from "bun:test";
import { UnixNamespace } from "../../transport/unix/namespace.ts";
import { connect, createServer } from "./server.ts";
import type { Socket } from "./socket.ts";
import { defaultUnixNamespace } from "./unix.ts";

function collect(s: Socket): Promise<Buffer> {
  const chunks: Buffer[] = [];
  s.on("data", (d: Buffer) => chunks.push(d));
  return new Promise((resolve, reject) => {
    s.on("end", () => resolve(Buffer.concat(chunks)));
    s.on("error", reject);
  });
}

test("createServer on a unix name echoes a large stream with backpressure; address() is the name", async () => {
  const ns = new UnixNamespace();
  const srv = createServer(ns, { unix: ns }, (s) => s.pipe(s));
  await new Promise<void>((r) => srv.listen({ path: "\0echo" }, r));
  expect(srv.address()).toBe("\0echo");
  const c = connect(ns, { path: "\0echo", unix: ns });
  await new Promise((r) => c.once("connect", r));
  expect(c.remoteAddress).toBeUndefined();
  const data = Buffer.alloc(3_000_000);
  for (let i = 0; i < data.length; i++) data[i] = i % 251;
  const got = collect(c);
  c.end(data);
  expect((await got).equals(data)).toBe(true);
  await new Promise((r) => srv.close(r));
  expect(ns.list()).toEqual([]);
});

test("the default namespace serves listen(path) and connect(path) with a network stack's API", async () => {
  const srv = createServer(defaultUnixNamespace, { allowHalfOpen: true }, (s) => {
    const got = collect(s);
    got.then((b) => s.end(`${b.length}`));
  });
  await new Promise<void>((r) => srv.listen("\0count", r));
  const c = connect(defaultUnixNamespace, "\0count");
  const reply = collect(c);
  c.end("12345");
  expect((await reply).toString()).toBe("5");
  await new Promise((r) => srv.close(r));
});

test("ECONNREFUSED for a name nobody listens on; EADDRINUSE for a taken name", async () => {
  const ns = new UnixNamespace();
  const c = connect(ns, { path: "nobody", unix: ns });
  const err = await new Promise<NodeJS.ErrnoException>((r) => c.once("error", r));
  expect(err.code).toBe("ECONNREFUSED");
  const a = createServer(ns, { unix: ns });
  await new Promise<void>((r) => a.listen({ path: "taken" }, r));
  const b = createServer(ns, { unix: ns });
  const e2 = await new Promise<NodeJS.ErrnoException>((r) => {
    b.once("error", r);
    b.listen({ path: "taken" });
  });
  expect(e2.code).toBe("EADDRINUSE");
  a.close();
});

test("destroy() on one side ends the other; setNoDelay/setKeepAlive are no-ops on unix sockets", async () => {
  const ns = new UnixNamespace();
  let peer: Socket | undefined;
  const srv = createServer(ns, { unix: ns }, (s) => {
    peer = s;
  });
  await new Promise<void>((r) => srv.listen({ path: "d" }, r));
  const c = connect(ns, { path: "d", unix: ns });
  await new Promise((r) => c.once("connect", r));
  expect(c.setNoDelay(true).setKeepAlive(true, 10)).toBe(c);
  while (!peer) await new Promise((r) => setTimeout(r, 1));
  const closed = new Promise<boolean>((r) => peer!.once("close", r));
  const ended = collect(peer);
  c.destroy();
  expect((await ended).length).toBe(0);
  expect(await closed).toBe(false);
  srv.close();
});
