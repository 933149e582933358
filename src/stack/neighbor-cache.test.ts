import { describe, expect, test } from "bun:test";
import { PacketBuffer } from "../buffer/packet-buffer.ts";
import { Address } from "../tcpip/address.ts";
import { ManualClock } from "../tcpip/clock.ts";
import { LinkAddress } from "../tcpip/link-address.ts";
import { SeededRandom } from "../tcpip/random.ts";
import { NeighborCache } from "./neighbor-cache.ts";

const A = Address.parse("198.18.0.2");
const MAC1 = new LinkAddress(Uint8Array.of(2, 0, 0, 0, 0, 1));
const MAC2 = new LinkAddress(Uint8Array.of(2, 0, 0, 0, 0, 2));

function cache() {
  const clock = new ManualClock();
  const requests: string[] = [];
  const written: string[] = [];
  let drops = 0;
  const failed: string[] = [];
  const c = new NeighborCache(
    {
      clock,
      random: new SeededRandom(1),
      writeResolved: (pkt, _p, mac) => written.push(`${pkt.size}>${mac}`),
      dropped: () => drops++,
    },
    {
      resolvedProtocol: 0x0800,
      linkAddressRequest: (t, _l, remote) => requests.push(`${t}${remote ? `@${remote}` : ""}`),
      resolveStatic: () => undefined,
      resolutionFailed: (a) => failed.push(a.toString()),
    },
    { baseReachableTimeMs: 30_000, minRandomFactor: 1, maxRandomFactor: 1, maxQueuedPerEntry: 2 },
  );
  const send = (n: number, onFail?: () => void) =>
    c.send(A, undefined, PacketBuffer.alloc(0, n), 0x0800, onFail);
  return { c, clock, requests, written, failed, send, drops: () => drops };
}

describe("neighbour cache (RFC 4861 §7.3)", () => {
  test("INCOMPLETE queues packets, retries, then fails and tells each sender", () => {
    const t = cache();
    let told = 0;
    t.send(1, () => told++);
    t.send(2, () => told++);
    t.send(3, () => told++);
    expect(t.drops()).toBe(1);
    expect(t.requests).toEqual(["198.18.0.2"]);
    t.clock.advance(2_000);
    expect(t.requests.length).toBe(3);
    t.clock.advance(1_000);
    expect(t.c.entry(A)?.state).toBe("failed");
    expect(told).toBe(2);
    expect(t.failed).toEqual(["198.18.0.2"]);
    // The next packet starts resolution again.
    t.send(4);
    expect(t.c.entry(A)?.state).toBe("incomplete");
  });

  test("a solicited confirmation resolves and flushes the queue", () => {
    const t = cache();
    t.send(10);
    t.send(20);
    t.c.handleConfirmation(A, MAC1, { solicited: true, override: false, isRouter: false });
    expect(t.written).toEqual([`10>${MAC1}`, `20>${MAC1}`]);
    expect(t.c.entry(A)?.state).toBe("reachable");
    t.clock.advance(30_000);
    expect(t.c.entry(A)?.state).toBe("stale");
  });

  test("STALE → DELAY on send → PROBE with unicast requests → FAILED", () => {
    const t = cache();
    t.c.handleProbe(A, MAC1);
    expect(t.c.entry(A)?.state).toBe("stale");
    t.send(1);
    expect(t.written).toEqual([`1>${MAC1}`]);
    expect(t.c.entry(A)?.state).toBe("delay");
    t.clock.advance(5_000);
    expect(t.c.entry(A)?.state).toBe("probe");
    expect(t.requests).toEqual([`198.18.0.2@${MAC1}`]);
    t.clock.advance(3_000);
    expect(t.requests.length).toBe(3);
    expect(t.c.entry(A)?.state).toBe("failed");
  });

  test("an upper-layer confirmation in DELAY makes the entry REACHABLE", () => {
    const t = cache();
    t.c.handleProbe(A, MAC1);
    t.send(1);
    t.c.handleUpperLevelConfirmation(A);
    expect(t.c.entry(A)?.state).toBe("reachable");
  });

  test("override rules: without Override a different address only demotes REACHABLE", () => {
    const t = cache();
    t.send(1);
    t.c.handleConfirmation(A, MAC1, { solicited: true, override: false, isRouter: false });
    t.c.handleConfirmation(A, MAC2, { solicited: true, override: false, isRouter: false });
    expect(t.c.entry(A)?.state).toBe("stale");
    expect(t.c.entry(A)?.linkAddress?.equals(MAC1)).toBe(true);
    t.c.handleConfirmation(A, MAC2, { solicited: false, override: true, isRouter: true });
    expect(t.c.entry(A)?.linkAddress?.equals(MAC2)).toBe(true);
    expect(t.c.entry(A)?.isRouter).toBe(true);
  });

  test("static entries ignore updates; confirmations for unknown neighbours are dropped", () => {
    const t = cache();
    t.c.addStatic(A, MAC1);
    t.c.handleProbe(A, MAC2);
    t.c.handleConfirmation(A, MAC2, { solicited: true, override: true, isRouter: false });
    expect(t.c.entry(A)?.linkAddress?.equals(MAC1)).toBe(true);
    const B = Address.parse("198.18.0.3");
    t.c.handleConfirmation(B, MAC2, { solicited: true, override: true, isRouter: false });
    expect(t.c.entry(B)).toBeUndefined();
    t.c.clear();
    expect(t.clock.pendingTimers).toBe(0);
    expect(t.c.entries()).toEqual([]);
  });
});
