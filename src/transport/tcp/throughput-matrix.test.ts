/**
 * The throughput matrix (issue 8): goodput of one bulk transfer between two
 * real stacks over NetSim for random loss {0, 0.1 %, 1 %, 5 %} × RTT {1, 20,
 * 100 ms} × buffers {auto-tuned defaults, fixed 64 KiB} × congestion control
 * {CUBIC, NewReno}, each cell beside the Mathis bound for its loss and RTT,
 * with the sender's RTO and retransmission counts. Seeded on a ManualClock, so
 * the numbers are the same on every run and machine: the table is a snapshot,
 * and a change in recovery, congestion control or buffer tuning shows as a
 * diff of numbers that a reviewer can judge.
 *
 * The path: 20 Mbit/s bottleneck, drop-tail queue of one bandwidth-delay
 * product (at least 100 kB), MTU 1500 (1448-byte segments with timestamps),
 * loss on the data direction only. Goodput is measured after a warm-up of 10
 * RTTs (at least 500 ms) over 100 RTTs (at least 2 s, at most 10 s). "64K"
 * sets ReceiveBufferSize and SendBufferSize to 64 KiB on both endpoints (no
 * auto-tuning); "auto" leaves the stack defaults. The bound is Mathis et al.'s
 * for Reno-style AIMD (src/link/netsim/mathis.ts): CUBIC may pass it where the
 * BDP is large (its cubic region), and every flow sits far below it where the
 * link, not loss, is the limit.
 */
import { describe, expect, test } from "bun:test";
import { bdpBytes, mathisBitsPerSecond } from "../../link/netsim/mathis.ts";
import { type TimedTransferResult, timedTransfer } from "./testing/netsim-transfer.ts";

const BANDWIDTH = 20_000_000;
const MSS = 1448;
const LOSSES = [0, 0.001, 0.01, 0.05];
const RTTS = [1, 20, 100];
const BUFFERS = ["auto", "64K"] as const;
const CCS = ["cubic", "reno"] as const;

function cell(
  cc: string,
  buffers: (typeof BUFFERS)[number],
  lossRate: number,
  rttMs: number,
): TimedTransferResult {
  const r = timedTransfer({
    seed: 8,
    path: {
      bandwidthBps: BANDWIDTH,
      delayMs: rttMs / 2,
      queueBytes: Math.max(100_000, bdpBytes(BANDWIDTH, rttMs)),
      lossRate,
    },
    tcp: { congestionControl: cc },
    ...(buffers === "64K" ? { fixedBuffer: 64 << 10 } : {}),
    warmupMs: Math.max(500, 10 * rttMs),
    measureMs: Math.min(10_000, Math.max(2000, 100 * rttMs)),
  });
  expect(r.ok).toBe(true);
  return r;
}

const mbps = (bps: number) => (bps / 1e6).toFixed(2).padStart(6);

/** One row: the cell, its goodput, the Mathis bound and goodput/bound, the sender's RTOs and retransmissions. */
function row(cc: string, buffers: string, lossRate: number, rttMs: number, r: TimedTransferResult): string {
  const bound = mathisBitsPerSecond(MSS, rttMs, lossRate);
  const mathis = Number.isFinite(bound)
    ? `${mbps(bound)} (${(r.goodputBps / bound).toFixed(2)}x)`
    : `${"-".padStart(6)}        `;
  const loss = `${(lossRate * 100).toFixed(1)}%`.padStart(4);
  return `loss ${loss} rtt ${String(rttMs).padStart(3)} ms ${buffers.padEnd(4)} ${cc.padEnd(5)} | ${mbps(r.goodputBps)} Mbit/s | Mathis ${mathis} | RTOs ${r.timeouts} rtx ${r.retransmits}`;
}

describe("throughput matrix over NetSim (20 Mbit/s, seed 8)", () => {
  test("goodput beside the Mathis bound for loss × RTT × buffers × congestion control", () => {
    const rows: string[] = [];
    for (const lossRate of LOSSES) {
      for (const rttMs of RTTS) {
        for (const buffers of BUFFERS) {
          for (const cc of CCS)
            rows.push(row(cc, buffers, lossRate, rttMs, cell(cc, buffers, lossRate, rttMs)));
        }
      }
    }
    console.log(rows.join("\n"));
    // The snapshot: a change in recovery, congestion control or buffer tuning shows here as a diff.
    expect(rows).toEqual([
      "loss 0.0% rtt   1 ms auto cubic |  19.31 Mbit/s | Mathis      -         | RTOs 0 rtx 2",
      "loss 0.0% rtt   1 ms auto reno  |  19.31 Mbit/s | Mathis      -         | RTOs 0 rtx 36",
      "loss 0.0% rtt   1 ms 64K  cubic |  19.30 Mbit/s | Mathis      -         | RTOs 0 rtx 0",
      "loss 0.0% rtt   1 ms 64K  reno  |  19.30 Mbit/s | Mathis      -         | RTOs 0 rtx 0",
      "loss 0.0% rtt  20 ms auto cubic |  19.31 Mbit/s | Mathis      -         | RTOs 0 rtx 14",
      "loss 0.0% rtt  20 ms auto reno  |  19.31 Mbit/s | Mathis      -         | RTOs 0 rtx 51",
      "loss 0.0% rtt  20 ms 64K  cubic |  19.29 Mbit/s | Mathis      -         | RTOs 0 rtx 0",
      "loss 0.0% rtt  20 ms 64K  reno  |  19.29 Mbit/s | Mathis      -         | RTOs 0 rtx 0",
      "loss 0.0% rtt 100 ms auto cubic |  19.31 Mbit/s | Mathis      -         | RTOs 0 rtx 51",
      "loss 0.0% rtt 100 ms auto reno  |  19.31 Mbit/s | Mathis      -         | RTOs 0 rtx 167",
      "loss 0.0% rtt 100 ms 64K  cubic |   4.97 Mbit/s | Mathis      -         | RTOs 0 rtx 0",
      "loss 0.0% rtt 100 ms 64K  reno  |   4.97 Mbit/s | Mathis      -         | RTOs 0 rtx 0",
      "loss 0.1% rtt   1 ms auto cubic |  19.31 Mbit/s | Mathis 448.65 (0.04x) | RTOs 0 rtx 5",
      "loss 0.1% rtt   1 ms auto reno  |  19.31 Mbit/s | Mathis 448.65 (0.04x) | RTOs 0 rtx 39",
      "loss 0.1% rtt   1 ms 64K  cubic |  19.31 Mbit/s | Mathis 448.65 (0.04x) | RTOs 0 rtx 5",
      "loss 0.1% rtt   1 ms 64K  reno  |  19.29 Mbit/s | Mathis 448.65 (0.04x) | RTOs 0 rtx 5",
      "loss 0.1% rtt  20 ms auto cubic |  18.78 Mbit/s | Mathis  22.43 (0.84x) | RTOs 0 rtx 18",
      "loss 0.1% rtt  20 ms auto reno  |  16.65 Mbit/s | Mathis  22.43 (0.74x) | RTOs 0 rtx 55",
      "loss 0.1% rtt  20 ms 64K  cubic |  15.33 Mbit/s | Mathis  22.43 (0.68x) | RTOs 0 rtx 4",
      "loss 0.1% rtt  20 ms 64K  reno  |  14.14 Mbit/s | Mathis  22.43 (0.63x) | RTOs 0 rtx 4",
      "loss 0.1% rtt 100 ms auto cubic |  11.72 Mbit/s | Mathis   4.49 (2.61x) | RTOs 0 rtx 6",
      "loss 0.1% rtt 100 ms auto reno  |   5.44 Mbit/s | Mathis   4.49 (1.21x) | RTOs 0 rtx 6",
      "loss 0.1% rtt 100 ms 64K  cubic |   3.47 Mbit/s | Mathis   4.49 (0.77x) | RTOs 0 rtx 5",
      "loss 0.1% rtt 100 ms 64K  reno  |   3.07 Mbit/s | Mathis   4.49 (0.68x) | RTOs 0 rtx 4",
      "loss 1.0% rtt   1 ms auto cubic |  19.31 Mbit/s | Mathis 141.87 (0.14x) | RTOs 0 rtx 49",
      "loss 1.0% rtt   1 ms auto reno  |  19.37 Mbit/s | Mathis 141.87 (0.14x) | RTOs 0 rtx 49",
      "loss 1.0% rtt   1 ms 64K  cubic |  19.31 Mbit/s | Mathis 141.87 (0.14x) | RTOs 0 rtx 49",
      "loss 1.0% rtt   1 ms 64K  reno  |  19.37 Mbit/s | Mathis 141.87 (0.14x) | RTOs 0 rtx 49",
      "loss 1.0% rtt  20 ms auto cubic |   6.57 Mbit/s | Mathis   7.09 (0.93x) | RTOs 0 rtx 14",
      "loss 1.0% rtt  20 ms auto reno  |   6.12 Mbit/s | Mathis   7.09 (0.86x) | RTOs 0 rtx 14",
      "loss 1.0% rtt  20 ms 64K  cubic |   6.57 Mbit/s | Mathis   7.09 (0.93x) | RTOs 0 rtx 14",
      "loss 1.0% rtt  20 ms 64K  reno  |   6.12 Mbit/s | Mathis   7.09 (0.86x) | RTOs 0 rtx 14",
      "loss 1.0% rtt 100 ms auto cubic |   1.49 Mbit/s | Mathis   1.42 (1.05x) | RTOs 0 rtx 14",
      "loss 1.0% rtt 100 ms auto reno  |   1.37 Mbit/s | Mathis   1.42 (0.97x) | RTOs 0 rtx 12",
      "loss 1.0% rtt 100 ms 64K  cubic |   1.49 Mbit/s | Mathis   1.42 (1.05x) | RTOs 0 rtx 14",
      "loss 1.0% rtt 100 ms 64K  reno  |   1.37 Mbit/s | Mathis   1.42 (0.97x) | RTOs 0 rtx 12",
      "loss 5.0% rtt   1 ms auto cubic |  18.09 Mbit/s | Mathis  63.45 (0.29x) | RTOs 0 rtx 184",
      "loss 5.0% rtt   1 ms auto reno  |  18.20 Mbit/s | Mathis  63.45 (0.29x) | RTOs 0 rtx 185",
      "loss 5.0% rtt   1 ms 64K  cubic |  18.09 Mbit/s | Mathis  63.45 (0.29x) | RTOs 0 rtx 184",
      "loss 5.0% rtt   1 ms 64K  reno  |  18.20 Mbit/s | Mathis  63.45 (0.29x) | RTOs 0 rtx 185",
      "loss 5.0% rtt  20 ms auto cubic |   2.81 Mbit/s | Mathis   3.17 (0.89x) | RTOs 0 rtx 26",
      "loss 5.0% rtt  20 ms auto reno  |   2.64 Mbit/s | Mathis   3.17 (0.83x) | RTOs 0 rtx 23",
      "loss 5.0% rtt  20 ms 64K  cubic |   2.81 Mbit/s | Mathis   3.17 (0.89x) | RTOs 0 rtx 26",
      "loss 5.0% rtt  20 ms 64K  reno  |   2.64 Mbit/s | Mathis   3.17 (0.83x) | RTOs 0 rtx 23",
      "loss 5.0% rtt 100 ms auto cubic |   0.60 Mbit/s | Mathis   0.63 (0.94x) | RTOs 0 rtx 23",
      "loss 5.0% rtt 100 ms auto reno  |   0.51 Mbit/s | Mathis   0.63 (0.81x) | RTOs 0 rtx 21",
      "loss 5.0% rtt 100 ms 64K  cubic |   0.60 Mbit/s | Mathis   0.63 (0.94x) | RTOs 0 rtx 23",
      "loss 5.0% rtt 100 ms 64K  reno  |   0.51 Mbit/s | Mathis   0.63 (0.81x) | RTOs 0 rtx 21",
    ]);
  }, 120_000);

  test("1% loss, 20 ms RTT: CUBIC is within 2x of the Mathis bound and beats NewReno (three seeds, 10 s each)", () => {
    const bound = mathisBitsPerSecond(MSS, 20, 0.01);
    for (const seed of [1, 2, 3]) {
      const run = (cc: string) =>
        timedTransfer({
          seed,
          path: { bandwidthBps: BANDWIDTH, delayMs: 10, queueBytes: 100_000, lossRate: 0.01 },
          tcp: { congestionControl: cc },
          warmupMs: 1000,
          measureMs: 10_000,
        });
      const cubic = run("cubic");
      const reno = run("reno");
      console.log(
        `seed ${seed}: CUBIC ${mbps(cubic.goodputBps)}, NewReno ${mbps(reno.goodputBps)}, Mathis ${mbps(bound)} Mbit/s`,
      );
      expect(cubic.ok && reno.ok).toBe(true);
      expect(cubic.goodputBps).toBeGreaterThanOrEqual(bound / 2);
      expect(cubic.goodputBps).toBeLessThanOrEqual(bound * 2);
      expect(cubic.goodputBps).toBeGreaterThan(reno.goodputBps);
    }
  }, 60_000);
});
