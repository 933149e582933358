/** Behaviour of our sockets that the shared suite cannot check against node:net (stack internals, other links). */
import { expect, test } from "bun:test";
import { ChannelEndpoint } from "../../link/channel/channel.ts";
import { Address } from "../../tcpip/address.ts";
import { ManualClock } from "../../tcpip/clock.ts";
import { SockOpt } from "../../tcpip/options.ts";
import { IPV4_PROTOCOL_NUMBER } from "../../tcpip/protocols.ts";
import { Subnet } from "../../tcpip/subnet.ts";
import { loopbackStack } from "../testing/loopback-stack.ts";
import { connect, createServer } from "./server.ts";
import type { Socket } from "./socket.ts";

const turn = () => new Promise((r) => setImmediate(r));

test("ETIMEDOUT when SYNs go unanswered (a link where nobody listens, on a manual clock)", async () => {
  const clock = new ManualClock();
  const stack = loopbackStack({ clock });
  stack.createNIC(2, new ChannelEndpoint({ mtu: 1500 }));
  stack.addAddress(2, IPV4_PROTOCOL_NUMBER, Address.parse("198.18.0.1"), 24);
  stack.addRoute({ destination: Subnet.parse("198.18.0.0/24"), nic: 2 });
  const c = connect(stack, { port: 80, host: "198.18.0.2" });
  let err: NodeJS.ErrnoException | undefined;
  c.on("error", (e: NodeJS.ErrnoException) => {
    err = e;
  });
  const closed = new Promise<boolean>((r) => c.once("close", r));
  for (let i = 0; i < 1000 && !err; i++) {
    clock.advance(1000);
    await turn();
  }
  expect(err?.code).toBe("ETIMEDOUT");
  expect(err?.syscall).toBe("connect");
  expect(await closed).toBe(true);
});

test("setNoDelay and setKeepAlive reach the TCP endpoint's options", async () => {
  const stack = loopbackStack();
  const srv = createServer(stack, (s) => s.resume());
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const c = connect(stack, { port: (srv.address() as { port: number }).port, host: "127.0.0.1" });
  await new Promise((r) => c.once("connect", r));
  c.setNoDelay(true).setKeepAlive(true, 1234);
  expect(c.endpoint!.getSockOpt(SockOpt.NoDelay)).toBe(true);
  expect(c.endpoint!.getSockOpt(SockOpt.KeepaliveEnabled)).toBe(true);
  expect(c.endpoint!.getSockOpt(SockOpt.KeepaliveIdle)).toBe(1234);
  c.setNoDelay(false).setKeepAlive(false);
  expect(c.endpoint!.getSockOpt(SockOpt.NoDelay)).toBe(false);
  expect(c.endpoint!.getSockOpt(SockOpt.KeepaliveEnabled)).toBe(false);
  c.destroy();
  srv.close();
});

test("a server on :: (the default) is dual-stack: an IPv4 client shows as ::ffff:127.0.0.1, an IPv6 one as ::1", async () => {
  const stack = loopbackStack();
  const peers: Socket[] = [];
  const srv = createServer(stack, (s) => peers.push(s));
  await new Promise<void>((r) => srv.listen(0, r));
  const a = srv.address() as { address: string; family: string; port: number };
  expect(a.address).toBe("::");
  expect(a.family).toBe("IPv6");
  const c4 = connect(stack, { port: a.port, host: "127.0.0.1" });
  const c6 = connect(stack, { port: a.port, host: "::1" });
  await Promise.all([c4, c6].map((c) => new Promise((r) => c.once("connect", r))));
  while (peers.length < 2) await turn();
  expect(peers.map((p) => p.remoteAddress).sort()).toEqual(["::1", "::ffff:127.0.0.1"]);
  expect(c6.remoteFamily).toBe("IPv6");
  for (const s of [c4, c6, ...peers]) s.destroy();
  srv.close();
});

test("bytesWritten counts bytes still buffered in the stream; pending and readyState follow the connection", async () => {
  const stack = loopbackStack();
  const srv = createServer(stack, (s) => s.resume());
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const c = connect(stack, { port: (srv.address() as { port: number }).port, host: "127.0.0.1" });
  expect(c.pending).toBe(true);
  expect(c.readyState).toBe("opening");
  c.write("12345");
  expect(c.bytesWritten).toBe(5);
  await new Promise((r) => c.once("connect", r));
  expect(c.pending).toBe(false);
  expect(c.readyState).toBe("open");
  c.end();
  await new Promise((r) => c.once("close", r));
  expect(c.bytesWritten).toBe(5);
  srv.close();
});
