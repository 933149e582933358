/**
 * Two real stacks (IPv4 + TCP) wired through NetSim: a bulk transfer arrives
 * intact over a clean path, over a lossy, reordering, duplicating one, and
 * the same seed gives the same run.
 */
import { describe, expect, test } from "bun:test";
import type { Stack } from "../../stack/stack.ts";
import { Address } from "../../tcpip/address.ts";
import { ManualClock } from "../../tcpip/clock.ts";
import { ErrConnectStarted, ErrWouldBlock } from "../../tcpip/errors.ts";
import { TCP_PROTOCOL_NUMBER } from "../../tcpip/protocols.ts";
import { SeededRandom } from "../../tcpip/random.ts";
import { TcpProtocol } from "../../transport/tcp/protocol.ts";
import { addV4, endpoint, newTestStack } from "../../transport/udp/testing.ts";
import { NetSim, type PathOptions, type PathStats } from "./netsim.ts";

interface Run {
  ok: boolean;
  received: number;
  doneAtMs: number;
  ab: PathStats;
  ba: PathStats;
}

/** Sends `size` bytes from A to B over a NetSim path; returns when B has them all (or time runs out). */
function transfer(path: PathOptions, size: number, seed: number, limitMs = 600_000): Run {
  const clock = new ManualClock();
  const extra = { transportProtocols: [TcpProtocol.factory()] };
  const a: Stack = newTestStack(clock, seed + 1, extra);
  const b: Stack = newTestStack(clock, seed + 2, extra);
  const sim = new NetSim({
    clock,
    random: new SeededRandom(seed),
    aToB: path,
    bToA: { delayMs: path.delayMs ?? 0 },
  });
  a.createNIC(1, sim.a);
  b.createNIC(1, sim.b);
  addV4(a, 1, "198.18.0.1/24");
  addV4(b, 1, "198.18.0.2/24");

  const listener = endpoint(b, TCP_PROTOCOL_NUMBER);
  listener.ep.bind({ port: 9 });
  listener.ep.listen!(1);
  const client = endpoint(a, TCP_PROTOCOL_NUMBER);
  expect(() => client.ep.connect({ addr: Address.parse("198.18.0.2"), port: 9 })).toThrow(ErrConnectStarted);
  clock.advance(1000);
  const { endpoint: server } = listener.ep.accept!();

  const data = new Uint8Array(size);
  for (let i = 0; i < size; i++) data[i] = (i * 31 + (i >>> 11)) & 0xff;
  let sent = 0;
  let received = 0;
  let ok = true;
  const start = clock.now();
  while (received < size && clock.now() - start < limitMs) {
    while (sent < size) {
      try {
        sent += client.ep.write(data.subarray(sent, Math.min(size, sent + 65536)));
      } catch (e) {
        if (e instanceof ErrWouldBlock) break;
        throw e;
      }
    }
    for (;;) {
      let chunk: Uint8Array;
      try {
        chunk = server.read().data;
      } catch (e) {
        if (e instanceof ErrWouldBlock) break;
        throw e;
      }
      if (chunk.length === 0) break;
      for (let i = 0; i < chunk.length; i++) if (chunk[i] !== data[received + i]) ok = false;
      received += chunk.length;
    }
    if (received < size && !clock.advanceToNext()) break;
  }
  const doneAtMs = clock.now() - start;
  sim.close();
  return { ok, received, doneAtMs, ab: { ...sim.statsAToB }, ba: { ...sim.statsBToA } };
}

describe("two stacks through NetSim", () => {
  test("1 MB over a 10 Mbit/s, 40 ms RTT path without random loss arrives intact, no faster than the bottleneck allows", () => {
    const size = 1 << 20;
    const r = transfer({ bandwidthBps: 10_000_000, delayMs: 20, queueBytes: 256_000 }, size, 1);
    expect(r.received).toBe(size);
    expect(r.ok).toBe(true);
    expect(r.ab.droppedLoss).toBe(0);
    // Serialising the payload alone at 10 Mbit/s takes 839 ms; headers and the RTT add to it.
    expect(r.doneAtMs).toBeGreaterThan((size * 8 * 1000) / 10_000_000);
    expect(r.ab.bytesDelivered).toBeGreaterThan(size);
  });

  test("256 KB over a path with 1% loss, reordering and duplicates arrives intact", () => {
    const size = 256 * 1024;
    const r = transfer(
      {
        bandwidthBps: 20_000_000,
        delayMs: 10,
        queueBytes: 200_000,
        lossRate: 0.01,
        reorderRate: 0.02,
        reorderDelayMs: 3,
        duplicateRate: 0.01,
      },
      size,
      7,
    );
    expect(r.received).toBe(size);
    expect(r.ok).toBe(true);
    expect(r.ab.droppedLoss).toBeGreaterThan(0);
    expect(r.ab.reordered).toBeGreaterThan(0);
    expect(r.ab.duplicated).toBeGreaterThan(0);
  });

  test("the same seed gives the same transfer, packet for packet", () => {
    const path: PathOptions = { bandwidthBps: 20_000_000, delayMs: 10, queueBytes: 100_000, lossRate: 0.02 };
    const one = transfer(path, 128 * 1024, 42);
    const two = transfer(path, 128 * 1024, 42);
    expect(two).toEqual(one);
    expect(one.ok).toBe(true);
  });
});
