/**
 * echo, discard and chargen straight on the endpoints (stream-service.ts),
 * driven by raw TCP endpoints on a second stack over an Ethernet channel link
 * (ManualClock; microtasks run between clock steps).
 */
import { describe, expect, test } from "bun:test";
import { newArpProtocol } from "../network/arp/arp.ts";
import { newIpv4Protocol } from "../network/ipv4/ipv4.ts";
import { ipv6 } from "../network/ipv6/protocol.ts";
import { Stack } from "../stack/stack.ts";
import { ManualClock } from "../tcpip/clock.ts";
import { ErrConnectStarted } from "../tcpip/errors.ts";
import { IPV4_PROTOCOL_NUMBER, ShutdownFlags, TCP_PROTOCOL_NUMBER } from "../tcpip/protocols.ts";
import { SeededRandom } from "../tcpip/random.ts";
import type { TcpEndpoint } from "../transport/tcp/endpoint.ts";
import { TcpProtocol } from "../transport/tcp/protocol.ts";
import { drain } from "../transport/tcp/testing/pair.ts";
import { addV4, ethernetWire } from "../transport/udp/testing.ts";
import { Queue } from "../waiter/waiter.ts";
import { chargenChunk } from "./chargen.ts";
import { ServiceManager } from "./services.ts";

function setup() {
  const clock = new ManualClock();
  const mk = (seed: number) =>
    new Stack({
      networkProtocols: [newIpv4Protocol(), newArpProtocol(), ipv6()],
      transportProtocols: [TcpProtocol.factory()],
      clock,
      random: new SeededRandom(seed),
    });
  const client = mk(1);
  const server = mk(2);
  const w = ethernetWire(1500, { auto: false });
  client.createNIC(1, w.a.link);
  server.createNIC(1, w.b.link);
  addV4(client, 1, "198.18.0.1/24");
  const addr = addV4(server, 1, "198.18.0.2/24");
  const services = new ServiceManager(server);
  /** Moves the clock `ms` 1 ms steps, delivering frames and running microtasks at each. */
  const run = async (ms: number) => {
    for (let t = 0; t < ms; t++) {
      w.pipe.flush();
      await Promise.resolve();
      await Promise.resolve();
      w.pipe.flush();
      clock.advance(1);
    }
  };
  const connect = async (port: number) => {
    const c = client.newEndpoint(TCP_PROTOCOL_NUMBER, IPV4_PROTOCOL_NUMBER, new Queue()) as TcpEndpoint;
    expect(() => c.connect({ addr, port })).toThrow(ErrConnectStarted);
    await run(5);
    expect(c.state).toBe("ESTABLISHED");
    return c;
  };
  return { services, run, connect, client, server, addr, clock, pipe: w.pipe };
}

describe("TCP services on endpoints", () => {
  test("echo (RFC 862) sends every byte back, closes after the client's FIN, counts live", async () => {
    const { services, run, connect } = setup();
    const svc = await services.start({ kind: "echo", protocol: "tcp", port: 7 });
    const c = await connect(7);
    expect(svc.connections).toBe(1);
    const msg = new Uint8Array(200_000).map((_, i) => (i * 7) & 0xff);
    let sent = 0;
    const got: Uint8Array[] = [];
    for (
      let i = 0;
      i < 2000 && (sent < msg.length || got.reduce((n, g) => n + g.length, 0) < msg.length);
      i++
    ) {
      if (sent < msg.length) {
        try {
          sent += c.write(msg.subarray(sent));
        } catch {}
      }
      await run(1);
      const d = drain(c);
      if (d.length) got.push(d);
    }
    expect(Buffer.concat(got).equals(Buffer.from(msg))).toBe(true);
    expect(svc.bytesIn).toBe(msg.length);
    expect(svc.bytesOut).toBe(msg.length);
    c.shutdown(ShutdownFlags.Write);
    await run(20);
    // The service closed its side: our read side sees the FIN.
    expect(c.state).toBe("TIME-WAIT");
    expect(svc.connections).toBe(0);
  });

  test("discard (RFC 863) reads and drops, closes once the client has", async () => {
    const { services, run, connect } = setup();
    const svc = await services.start({ kind: "discard", protocol: "tcp", port: 9 });
    const c = await connect(9);
    let sent = 0;
    const chunk = new Uint8Array(30_000).fill(1);
    for (let i = 0; i < 500 && sent < 300_000; i++) {
      try {
        sent += c.write(chunk);
      } catch {}
      await run(1);
    }
    await run(20);
    expect(svc.bytesIn).toBe(sent);
    expect(drain(c).length).toBe(0);
    c.shutdown(ShutdownFlags.Write);
    await run(20);
    expect(c.state).toBe("TIME-WAIT");
    expect(svc.connections).toBe(0);
  });

  test("chargen (RFC 864) streams the pattern without a seam across partial writes until the client closes", async () => {
    const { services, run, connect } = setup();
    const svc = await services.start({ kind: "chargen", protocol: "tcp", port: 19 });
    const c = await connect(19);
    const got: Uint8Array[] = [];
    let n = 0;
    for (let i = 0; i < 2000 && n < 400_000; i++) {
      await run(1);
      const d = drain(c);
      got.push(d);
      n += d.length;
    }
    expect(n).toBeGreaterThanOrEqual(400_000);
    const period = chargenChunk(1);
    const all = Buffer.concat(got);
    for (let i = 0; i < all.length; i += period.length) {
      const end = Math.min(all.length, i + period.length);
      expect(all.subarray(i, end).equals(Buffer.from(period.subarray(0, end - i)))).toBe(true);
    }
    c.close();
    await run(50);
    expect(svc.connections).toBe(0);
  });

  test("a port in use is EADDRINUSE; stopping a service closes its connections", async () => {
    const { services, run, connect } = setup();
    const svc = await services.start({ kind: "echo", protocol: "tcp", port: 7 });
    await expect(services.start({ kind: "discard", protocol: "tcp", port: 7 })).rejects.toMatchObject({
      code: "EADDRINUSE",
    });
    const c = await connect(7);
    expect(svc.connections).toBe(1);
    await services.stop(svc.id);
    await run(20);
    expect(svc.connections).toBe(0);
    expect(["CLOSE-WAIT", "CLOSED", "TIME-WAIT", "LAST-ACK"]).toContain(c.state);
  });
});

test("5,000 idle echo connections: heap per connection (both ends in this process) stays small; idle, they send no segment and arm no timer", async () => {
  const { services, run, client, server, addr, clock, pipe } = setup();
  await services.start({ kind: "echo", protocol: "tcp", port: 7 });
  const open = () => {
    const c = client.newEndpoint(TCP_PROTOCOL_NUMBER, IPV4_PROTOCOL_NUMBER, new Queue()) as TcpEndpoint;
    try {
      c.connect({ addr, port: 7 });
    } catch (e) {
      if (!(e instanceof ErrConnectStarted)) throw e;
    }
    return c;
  };
  const heap = () => {
    Bun.gc(true);
    Bun.gc(true);
    return process.memoryUsage().heapUsed;
  };
  const warm = open();
  await run(10);
  const h0 = heap();
  const N = 5000;
  const cs: TcpEndpoint[] = [];
  for (let i = 0; i < N; i += 500) {
    for (let j = 0; j < 500; j++) cs.push(open());
    await run(3);
  }
  await run(100);
  expect(cs.every((c) => c.state === "ESTABLISHED")).toBe(true);
  const per = (heap() - h0) / N / 1024;
  console.log(
    `services: ${N} idle echo connections, ${per.toFixed(2)} KiB of heap per connection (both ends)`,
  );
  // Issue 10: at most 8 KiB per connection on the server; both ends here. The node:net Socket this
  // replaced made it ~12.5 KiB.
  expect(per).toBeLessThan(10);
  // Issue 10: "no packet-handling work runs while nothing arrives". Without keepalive no connection
  // has a timer armed (what is left is the stacks' own, e.g. neighbour reachability), and ten minutes
  // of idle clock time send no TCP segment (the few frames on the wire are ARP's, for any number of
  // connections).
  expect(clock.pendingTimers).toBeLessThan(10);
  const sent = () => client.stats.tcp.segmentsSent + server.stats.tcp.segmentsSent;
  const segments = sent();
  const frames = pipe.stats.aToB + pipe.stats.bToA;
  for (let i = 0; i < 600; i++) await run(1);
  clock.advance(600_000);
  await run(5);
  expect(sent()).toBe(segments);
  expect(pipe.stats.aToB + pipe.stats.bToA - frames).toBeLessThan(50);
  expect(cs.every((c) => c.state === "ESTABLISHED")).toBe(true);
  for (const c of [...cs, warm]) c.close();
  await run(50);
}, 60_000); // ~1 s alone, several on a loaded machine
