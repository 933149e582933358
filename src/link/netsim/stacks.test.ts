/**
 * Two real stacks (IPv4 + TCP) wired through NetSim: a bulk transfer arrives
 * intact over a clean path, over a lossy, reordering, duplicating one, and
 * the same seed gives the same run.
 */
import { describe, expect, test } from "bun:test";
import { sizedTransfer } from "../../transport/tcp/testing/netsim-transfer.ts";
import type { PathOptions } from "./netsim.ts";

/** Sends `size` seeded bytes from A to B over a NetSim path (the TCP test kit's sizedTransfer, default TCP). */
function transfer(path: PathOptions, size: number, seed: number) {
  return sizedTransfer({ seed, path, size });
}

describe("two stacks through NetSim", () => {
  test("1 MB over a 10 Mbit/s, 40 ms RTT path without random loss arrives intact, no faster than the bottleneck allows", () => {
    const size = 1 << 20;
    const r = transfer({ bandwidthBps: 10_000_000, delayMs: 20, queueBytes: 256_000 }, size, 1);
    expect(r.ok).toBe(true);
    expect(r.dataPath.droppedLoss).toBe(0);
    // Serialising the payload alone at 10 Mbit/s takes 839 ms; headers and the RTT add to it.
    expect(r.simMs).toBeGreaterThan((size * 8 * 1000) / 10_000_000);
    expect(r.dataPath.bytesDelivered).toBeGreaterThan(size);
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
    expect(r.ok).toBe(true);
    expect(r.dataPath.droppedLoss).toBeGreaterThan(0);
    expect(r.dataPath.reordered).toBeGreaterThan(0);
    expect(r.dataPath.duplicated).toBeGreaterThan(0);
  });

  test("the same seed gives the same transfer, packet for packet", () => {
    const path: PathOptions = { bandwidthBps: 20_000_000, delayMs: 10, queueBytes: 100_000, lossRate: 0.02 };
    const one = transfer(path, 128 * 1024, 42);
    const two = transfer(path, 128 * 1024, 42);
    expect(two).toEqual(one);
    expect(one.ok).toBe(true);
  });
});
