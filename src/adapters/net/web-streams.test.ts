import { expect, test } from "bun:test";
import type { TcpInfo } from "../../tcpip/options.ts";
import { SockOpt } from "../../tcpip/options.ts";
import { UnixNamespace } from "../../transport/unix/namespace.ts";
import { loopbackStack } from "../testing/loopback-stack.ts";
import { createServer } from "./server.ts";
import { connectStream, listenStreams, type StreamSocket } from "./web-streams.ts";

const stack = loopbackStack();

async function readAll(s: ReadableStream<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const p of s) parts.push(p);
  return Buffer.concat(parts);
}

test("connectStream to a node:net-style echo server: write, half-close, read to the end", async () => {
  const srv = createServer(stack, (s) => s.pipe(s));
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const port = (srv.address() as { port: number }).port;
  const sock = connectStream(stack, { hostname: "127.0.0.1", port });
  const info = await sock.opened;
  expect(info.remotePort).toBe(port);
  expect(info.remoteAddress).toBe("127.0.0.1");
  const data = Buffer.alloc(1_000_000, 0x41);
  const w = sock.writable.getWriter();
  const reading = readAll(sock.readable);
  await w.write(data);
  await w.close();
  expect((await reading).equals(data)).toBe(true);
  await sock.closed;
  srv.close();
});

test("listenStreams accepts connections as StreamSockets; a refused connect rejects opened with ECONNREFUSED", async () => {
  const l = listenStreams(stack, { hostname: "127.0.0.1", port: 0 });
  const serverSide = (async () => {
    const reader = l.accepted.getReader();
    const { value: s } = await reader.read();
    const got = await readAll(s!.readable);
    const w = s!.writable.getWriter();
    await w.write(new TextEncoder().encode(`got ${got.length}`));
    await w.close();
  })();
  const c = connectStream(stack, { hostname: "127.0.0.1", port: l.port });
  const w = c.writable.getWriter();
  await w.write(new TextEncoder().encode("12345"));
  await w.close();
  expect((await readAll(c.readable)).toString()).toBe("got 5");
  await serverSide;
  l.close();
  const refused = connectStream(stack, { hostname: "127.0.0.1", port: l.port });
  const err = await refused.opened.then(
    () => undefined,
    (e: NodeJS.ErrnoException) => e,
  );
  expect(err?.code).toBe("ECONNREFUSED");
});

test("backpressure: an unread readable leaves bytes in TCP and closes the window; writes wait", async () => {
  const l = listenStreams(stack, { hostname: "127.0.0.1", port: 0 });
  const accepted = l.accepted.getReader().read();
  const c = connectStream(stack, { hostname: "127.0.0.1", port: l.port });
  await c.opened;
  const s = (await accepted).value as StreamSocket;
  const w = c.writable.getWriter();
  const chunk = new Uint8Array(64 * 1024);
  // 3 MiB offered: more than the client's send buffer and the server's receive buffer hold.
  const n = 48;
  let resolved = 0;
  const writes = Array.from({ length: n }, () =>
    w.write(chunk).then(() => {
      resolved++;
    }),
  );
  // The client's view of the server's window closes (after at most a delayed ACK).
  const sndWnd = () => (tcpInfo(c) as TcpInfo).sndWnd;
  for (let i = 0; i < 2000 && sndWnd() !== 0; i++) await new Promise((r) => setTimeout(r, 1));
  expect(sndWnd()).toBe(0);
  expect(resolved).toBeLessThan(n);
  // Reading drains it all, and every write completes.
  const reading = readAll(s.readable);
  await Promise.all(writes);
  await w.close();
  expect((await reading).length).toBe(n * chunk.length);
  l.close();
});

/** TCP_INFO of a StreamSocket's endpoint (tests reach in; the API does not expose the endpoint). */
function tcpInfo(s: StreamSocket): unknown {
  return (s as unknown as { ep: { getSockOpt(n: string): unknown } }).ep.getSockOpt(SockOpt.TCPInfo);
}

test("over a unix name too", async () => {
  const ns = new UnixNamespace();
  const l = listenStreams(stack, { path: "ws", unix: ns });
  const accepted = l.accepted.getReader().read();
  const c = connectStream(stack, { path: "ws", unix: ns });
  await c.opened;
  const s = (await accepted).value as StreamSocket;
  const w = c.writable.getWriter();
  await w.write(new TextEncoder().encode("over unix"));
  await w.close();
  expect((await readAll(s.readable)).toString()).toBe("over unix");
  await s.close();
  l.close();
  expect(ns.list()).toEqual([]);
});
