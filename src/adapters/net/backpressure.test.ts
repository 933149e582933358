/**
 * Backpressure reaches TCP: a reader that stops reading makes the writer's
 * `write()` return false, the reader's advertised window shrink to zero, and
 * no layer buffers more than its bound.
 */
import { expect, test } from "bun:test";
import type { TcpInfo } from "../../tcpip/options.ts";
import { SockOpt } from "../../tcpip/options.ts";
import { loopbackStack } from "../testing/loopback-stack.ts";
import { connect, createServer } from "./server.ts";
import type { Socket } from "./socket.ts";

const tick = () => new Promise((r) => setTimeout(r, 1));

test("a paused reader closes the TCP window; write() says stop; every buffer stays bounded; resuming delivers all", async () => {
  const stack = loopbackStack();
  let server: Socket | undefined;
  const srv = createServer(stack, (s) => {
    server = s;
    s.pause();
  });
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const port = (srv.address() as { port: number }).port;
  const c = connect(stack, { port, host: "127.0.0.1" });
  await new Promise((r) => c.once("connect", r));
  while (!server) await tick();
  const info = () => c.endpoint!.getSockOpt(SockOpt.TCPInfo) as TcpInfo;
  const initialWindow = info().sndWnd;
  expect(initialWindow).toBeGreaterThan(0);

  const chunk = Buffer.alloc(32 * 1024, 0x5a);
  let offered = 0;
  for (let i = 0; i < 10_000; i++) {
    offered += chunk.length;
    if (!c.write(chunk)) break;
    await tick();
  }
  expect(c.writableNeedDrain).toBe(true);
  // 'drain' may come while the window closes (TCP's send buffer takes what the stream held).
  const drained = new Promise((r) => c.once("drain", r));
  // Let what can move, move: the window closes once the receiver's buffer is full (the ACK
  // that says so may be a delayed one).
  for (let i = 0; i < 2000 && info().sndWnd > 0; i++) await tick();
  expect(info().sndWnd).toBe(0);
  expect(info().sndWnd).toBeLessThan(initialWindow);

  const sEp = server.endpoint!;
  const cEp = c.endpoint!;
  const unread = sEp.getSockOpt(SockOpt.ReceiveQueueSize) as number;
  expect(unread).toBeGreaterThan(0);
  // The receiver may hold up to one window-scale unit more than its buffer: a window that is
  // kept is rounded up to the scale unit so its right edge never moves left (RFC 7323 §2.4; Linux
  // does the same in tcp_select_window).
  const slack = 1 << 14;
  expect(unread).toBeLessThanOrEqual((sEp.getSockOpt(SockOpt.ReceiveBufferSize) as number) + slack);
  expect(cEp.getSockOpt(SockOpt.SendQueueSize) as number).toBeLessThanOrEqual(
    cEp.getSockOpt(SockOpt.SendBufferSize) as number,
  );
  expect(server.readableLength).toBeLessThanOrEqual(server.readableHighWaterMark);
  // What the writer was allowed to offer is the sum of those bounds, not more.
  const bound =
    (sEp.getSockOpt(SockOpt.ReceiveBufferSize) as number) +
    slack +
    (cEp.getSockOpt(SockOpt.SendBufferSize) as number) +
    server.readableHighWaterMark +
    c.writableHighWaterMark +
    2 * chunk.length;
  expect(offered).toBeLessThanOrEqual(bound);

  let received = 0;
  server.on("data", (d: Buffer) => {
    received += d.length;
  });
  const ended = new Promise((r) => server!.once("end", r));
  server.resume();
  await drained;
  c.end();
  await ended;
  expect(received).toBe(offered);
  expect(info().sndWnd).toBeGreaterThan(0);
  srv.close();
});
