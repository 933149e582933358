/**
 * Scale (issue 4): many concurrent connections between two real Stacks on an
 * Ethernet channel link (ManualClock). All are established, each echoes a few
 * bytes, then all close. Prints the heap per idle established connection
 * (Bun.gc(true) + heapUsed before and after; both stacks' endpoints counted,
 * so the figure is per endpoint). No timing asserts; a generous sanity bound only.
 */
import { expect, test } from "bun:test";
import { newArpProtocol } from "../../network/arp/arp.ts";
import { newIpv4Protocol } from "../../network/ipv4/ipv4.ts";
import { Stack } from "../../stack/stack.ts";
import { ManualClock } from "../../tcpip/clock.ts";
import { ErrConnectStarted } from "../../tcpip/errors.ts";
import { IPV4_PROTOCOL_NUMBER, TCP_PROTOCOL_NUMBER } from "../../tcpip/protocols.ts";
import { SeededRandom } from "../../tcpip/random.ts";
import { Queue } from "../../waiter/waiter.ts";
import { addV4, ethernetWire } from "../udp/testing.ts";
import type { TcpEndpoint } from "./endpoint.ts";
import { TcpProtocol } from "./protocol.ts";
import { drain } from "./testing/pair.ts";

const N = Number(process.env.TCP_SCALE_CONNECTIONS ?? 10_000);

function heap(): number {
  Bun.gc(true);
  Bun.gc(true);
  return process.memoryUsage().heapUsed;
}

test(`${N} concurrent connections: established, echo, closed; heap per idle connection`, () => {
  const t0 = performance.now();
  const clock = new ManualClock();
  const mk = (seed: number) =>
    new Stack({
      networkProtocols: [newIpv4Protocol(), newArpProtocol()],
      transportProtocols: [TcpProtocol.factory()],
      clock,
      random: new SeededRandom(seed),
    });
  const a = mk(1);
  const b = mk(2);
  const w = ethernetWire(1500, { auto: false });
  a.createNIC(1, w.a.link);
  b.createNIC(1, w.b.link);
  addV4(a, 1, "198.18.0.1/24");
  const b4 = addV4(b, 1, "198.18.0.2/24");
  const run = (ms: number) => {
    for (let t = 0; t < ms; t++) {
      w.pipe.flush();
      clock.advance(1);
    }
    w.pipe.flush();
  };
  const open = (s: Stack) =>
    s.newEndpoint(TCP_PROTOCOL_NUMBER, IPV4_PROTOCOL_NUMBER, new Queue()) as unknown as TcpEndpoint;
  const l = open(b);
  l.bind({ port: 7 });
  l.listen(1024);
  // Warm up ARP and the code paths so the baseline holds what one connection would not add.
  const wc = open(a);
  expect(() => wc.connect({ addr: b4, port: 7 })).toThrow(ErrConnectStarted);
  run(10);
  const ws = l.accept().endpoint as TcpEndpoint;

  const base = heap();
  const clients: TcpEndpoint[] = [];
  const servers: TcpEndpoint[] = [];
  const batch = 500;
  for (let i = 0; i < N; i += batch) {
    for (let j = i; j < Math.min(N, i + batch); j++) {
      const c = open(a);
      try {
        c.connect({ addr: b4, port: 7 });
      } catch (e) {
        if (!(e instanceof ErrConnectStarted)) throw e;
      }
      clients.push(c);
    }
    run(2);
    for (;;) {
      try {
        servers.push(l.accept().endpoint as TcpEndpoint);
      } catch {
        break;
      }
    }
  }
  run(5);
  expect(servers.length).toBe(N);
  expect(clients.every((c) => c.state === "ESTABLISHED")).toBe(true);
  // Idle, established, nothing buffered: let delayed ACKs go out first.
  run(50);
  const idle = heap() - base;
  const perEndpoint = idle / (2 * N);
  console.log(
    `tcp scale: ${N} connections (${2 * N} endpoints): heap +${(idle / 2 ** 20).toFixed(1)} MiB, ` +
      `${(perEndpoint / 1024).toFixed(2)} KiB per idle established endpoint ` +
      `(${((2 * perEndpoint) / 1024).toFixed(2)} KiB per connection, both ends)`,
  );

  // Each echoes a few bytes.
  const msg = new TextEncoder().encode("ping!");
  // In batches: the channel queues 1024 packets, a burst of N segments would overflow it.
  let echoed = 0;
  let back = 0;
  for (let i = 0; i < N; i += batch) {
    const cs = clients.slice(i, i + batch);
    const pending = new Set(servers.slice(i, i + batch));
    const waiting = new Set(cs);
    for (const c of cs) c.write(msg);
    for (let ms = 0; ms < 5000 && (pending.size > 0 || waiting.size > 0); ms++) {
      run(1);
      for (const s of pending) {
        const d = drain(s);
        if (d.length === 0) continue;
        expect(d.length).toBe(msg.length);
        echoed += s.write(d);
        pending.delete(s);
      }
      run(1);
      for (const c of waiting) {
        const d = drain(c);
        if (d.length === 0) continue;
        back += d.length;
        waiting.delete(c);
      }
    }
  }
  expect(echoed).toBe(N * msg.length);
  expect(back).toBe(N * msg.length);

  for (let i = 0; i < N; i += batch) {
    for (const c of clients.slice(i, i + batch)) c.close();
    run(1);
  }
  run(50);
  for (let i = 0; i < N; i += batch) {
    for (const s of servers.slice(i, i + batch)) s.close();
    run(1);
  }
  run(50);
  expect(servers.every((s) => s.state === "CLOSED")).toBe(true);
  expect(clients.every((c) => c.state === "TIME-WAIT")).toBe(true);
  wc.close();
  ws.close();
  console.log(`tcp scale: ${N} connections done in ${((performance.now() - t0) / 1000).toFixed(1)} s wall`);
  // A generous sanity bound (the target is 4 KiB beyond buffered data).
  expect(perEndpoint).toBeLessThan(64 * 1024);
}, 120_000);
