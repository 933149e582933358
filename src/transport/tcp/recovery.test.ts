/**
 * SACK-based loss recovery (RFC 6675) with PRR (RFC 6937), against NewReno
 * (RFC 6582) on the same seeded paths: a 4 MB transfer between two real stacks
 * over NetSim with 1% loss, and a burst of losses in one window over a Pair.
 * Only deterministic counters for fixed seeds are asserted.
 */
import { describe, expect, test } from "bun:test";
import { mathisBitsPerSecond } from "../../link/netsim/mathis.ts";
import { sizedTransfer } from "./testing/netsim-transfer.ts";
import { bytes, drain, Pair } from "./testing/pair.ts";

/** 4 MB from A to B over a 50 Mbit/s, 20 ms RTT path with 1% random loss (seeded); the sender's counters. */
function lossyTransfer(sack: boolean, seed: number, delayMs = 10, lossRate = 0.01, size = 4 << 20) {
  const r = sizedTransfer({
    seed,
    tcp: { sack },
    path: { bandwidthBps: 50_000_000, delayMs, queueBytes: 400_000, lossRate },
    size,
  });
  return {
    ok: r.ok,
    simMs: r.simMs,
    timeouts: r.tcp.timeouts,
    retransmits: r.tcp.retransmits,
    fastRetransmit: r.tcp.fastRetransmit,
    fastRecovery: r.tcp.fastRecovery,
    sackRecovery: r.tcp.sackRecovery,
  };
}

describe("SACK loss recovery (RFC 6675 + PRR) between two stacks", () => {
  test("4 MB with 1% loss: fewer RTOs and less simulated time than NewReno on the same seeded path", () => {
    const before = lossyTransfer(false, 12);
    const after = lossyTransfer(true, 12);
    console.log("4 MB, 1% loss, 20 ms RTT, 50 Mbit/s:", { newReno: before, sack: after });
    expect(before.ok).toBe(true);
    expect(after.ok).toBe(true);
    expect(before.sackRecovery).toBe(0);
    expect(after.sackRecovery).toBeGreaterThan(0);
    expect(after.fastRecovery).toBe(0);
    // Seed 12: NewReno needs one RTO, SACK recovery none.
    expect(before.timeouts).toBe(1);
    expect(after.timeouts).toBe(0);
    expect(after.simMs).toBeLessThan(before.simMs);
  });

  test("several losses in one window are repaired in one recovery episode without an RTO", () => {
    const pair = new Pair({ delay: 10 });
    const { client, server } = pair.connect();
    const data = bytes(200_000, 3);
    // Let the window open first, then drop three segments of one flight at their first transmission.
    let off = client.write(data);
    const base = client.snd.iss + 1;
    const lost = new Set([60_000, 63_000, 68_000].map((x) => (base + x - (x % client.snd.mss)) >>> 0));
    const seen = new Set<number>();
    pair.filter = (seg, from) => {
      if (from !== "a" || seg.payload.length === 0) return undefined;
      for (const l of lost) {
        if (((seg.seq - l) | 0) <= 0 && ((seg.seq + seg.payload.length - l) | 0) > 0 && !seen.has(l)) {
          seen.add(l);
          return "drop";
        }
      }
      return undefined;
    };
    let got = 0;
    const chunks: Uint8Array[] = [];
    for (let i = 0; i < 2000 && got < data.length; i++) {
      if (off < data.length) off += client.write(data.subarray(off));
      pair.run(5);
      const d = drain(server);
      got += d.length;
      chunks.push(d);
    }
    expect(Buffer.compare(Buffer.concat(chunks), data)).toBe(0);
    expect(seen.size).toBe(3);
    const t = pair.a.stats.tcp;
    expect(t.sackRecovery).toBe(1);
    expect(t.fastRetransmit).toBe(1);
    expect(t.timeouts).toBe(0);
    expect(t.retransmits).toBe(3);
  });

  test("a lost tail is repaired by a tail loss probe (RFC 8985 §7), not an RTO; with rack: false by the RTO", () => {
    const run = (rack: boolean) => {
      const pair = new Pair({ delay: 10, tcp: { rack } });
      const { client, server } = pair.connect();
      const data = bytes(40_000, 5);
      let dropped = false;
      pair.filter = (seg, from) => {
        // The first transmission of the segment that ends the data.
        if (
          from === "a" &&
          !dropped &&
          seg.payload.length > 0 &&
          seg.seq + seg.payload.length === (client.snd.iss + 1 + data.length) >>> 0
        ) {
          dropped = true;
          return "drop";
        }
        return undefined;
      };
      let off = 0;
      const chunks: Uint8Array[] = [];
      for (let i = 0; i < 2000 && chunks.reduce((n, c) => n + c.length, 0) < data.length; i++) {
        if (off < data.length) off += client.write(data.subarray(off));
        pair.run(5);
        chunks.push(drain(server));
      }
      expect(dropped).toBe(true);
      expect(Buffer.compare(Buffer.concat(chunks), data)).toBe(0);
      return pair.a.stats.tcp;
    };
    const tlp = run(true);
    expect(tlp.tlpRetransmits).toBe(1);
    expect(tlp.timeouts).toBe(0);
    expect(tlp.retransmits).toBe(1);
    const rto = run(false);
    expect(rto.tlpRetransmits).toBe(0);
    expect(rto.timeouts).toBe(1);
  });

  test("throughput matrix: simulated goodput beside the Mathis bound (50 Mbit/s link, 2 MB, seed 5)", () => {
    const rows: string[] = [];
    for (const lossRate of [0, 0.001, 0.01]) {
      for (const rttMs of [1, 20]) {
        const size = 2 << 20;
        const r = lossyTransfer(true, 5, rttMs / 2, lossRate, size);
        expect(r.ok).toBe(true);
        const goodput = (size * 8) / (r.simMs / 1000) / 1e6;
        const bound = lossRate === 0 ? "-" : (mathisBitsPerSecond(1448, rttMs, lossRate) / 1e6).toFixed(1);
        rows.push(
          `loss ${lossRate} rtt ${rttMs} ms: ${goodput.toFixed(1)} Mbit/s (Mathis ${bound}), RTOs ${r.timeouts}`,
        );
      }
    }
    // A snapshot: a change in recovery or congestion control shows here as a diff. With RACK (RFC 8985 §6,
    // on by default) the 1% / 1 ms row went from 47.8 to 47.6 Mbit/s (351.0 → 352.5 ms): RACK marks each
    // of the first losses after min_RTT/4 with two segments SACKed above it, 0.24–0.48 ms before the third
    // SACK would (DupThresh); the seeded per-packet loss draws then fall on other packets, and the later
    // episodes differ. Same counts either way: 12 recoveries, 13 retransmissions, no RTO.
    expect(rows).toEqual([
      "loss 0 rtt 1 ms: 48.2 Mbit/s (Mathis -), RTOs 0",
      "loss 0 rtt 20 ms: 40.4 Mbit/s (Mathis -), RTOs 0",
      "loss 0.001 rtt 1 ms: 48.2 Mbit/s (Mathis 448.6), RTOs 0",
      "loss 0.001 rtt 20 ms: 40.4 Mbit/s (Mathis 22.4), RTOs 0",
      "loss 0.01 rtt 1 ms: 47.6 Mbit/s (Mathis 141.9), RTOs 0",
      "loss 0.01 rtt 20 ms: 8.0 Mbit/s (Mathis 7.1), RTOs 0",
    ]);
  });
});
