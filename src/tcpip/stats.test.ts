import { describe, expect, test } from "bun:test";
import { flattenStats, newNicStats, newStats } from "./stats.ts";

describe("stats", () => {
  test("every counter starts at zero", () => {
    const flat = flattenStats(newStats());
    expect(Object.keys(flat).length).toBeGreaterThan(100);
    expect(Object.values(flat).every((v) => v === 0)).toBe(true);
    expect(Object.values(flattenStats(newNicStats())).every((v) => v === 0)).toBe(true);
  });

  test("flatten names counters by their path", () => {
    const s = newStats();
    s.tcp.resetsSent += 3;
    s.icmp.v6.neighborSolicit.sent = 2;
    s.droppedPackets++;
    const flat = flattenStats(s);
    expect(flat["tcp.resetsSent"]).toBe(3);
    expect(flat["icmp.v6.neighborSolicit.sent"]).toBe(2);
    expect(flat.droppedPackets).toBe(1);
    expect(flat["icmp.v4.echoRequest.received"]).toBe(0);
  });

  test("flatten takes a prefix and an output object, and skips non-numbers", () => {
    const out: Record<string, number> = { keep: 1 };
    flattenStats({ a: 1, b: { c: 2, d: "x", e: null, f: { g: 3 } } }, "nic1", out);
    expect(out).toEqual({ keep: 1, "nic1.a": 1, "nic1.b.c": 2, "nic1.b.f.g": 3 });
  });

  test("each call makes an independent tree", () => {
    const a = newStats();
    const b = newStats();
    a.icmp.v4.echoReply.sent++;
    expect(b.icmp.v4.echoReply.sent).toBe(0);
    expect(a.icmp.v4).not.toBe(a.icmp.v6);
  });
});
