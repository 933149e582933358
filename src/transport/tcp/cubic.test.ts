import { describe, expect, test } from "bun:test";
import { CUBIC_ALPHA, CUBIC_BETA, CUBIC_C, Cubic, cubicK, newCubic, wCubic } from "./cubic.ts";

const MSS = 1000;

/** Slow start from the initial window (10 segments) up to `segs` segments, at time 0. */
function grown(segs: number, opts: ConstructorParameters<typeof Cubic>[2] = {}): Cubic {
  const cc = new Cubic(MSS, 10, opts);
  while (cc.cwnd < segs * MSS) cc.onAck(MSS, 0);
  return cc;
}

/** A loss at the current window, then a full ACK with plenty still in flight: cwnd = ssthresh. */
function lossAndRecover(cc: Cubic): void {
  cc.enterRecovery(cc.cwnd, 1000);
  cc.onAckInRecovery(1000, MSS, 1_000_000);
}

/** Congestion avoidance rounds of `rttMs`: each round ACKs one window, one segment per ACK, at the round's time. */
function rounds(cc: Cubic, from: number, rttMs: number, n: number, each?: (t: number) => void): number {
  let t = from;
  for (let r = 0; r < n; r++) {
    t += rttMs;
    const segs = Math.floor(cc.cwnd / MSS);
    for (let i = 0; i < segs; i++) cc.onAck(MSS, t);
    each?.(t);
  }
  return t;
}

describe("CUBIC constants and formulas (RFC 9438 §4.2, §5.1)", () => {
  test("C = 0.4, β = 0.7, α = 3(1 − β)/(1 + β) ≈ 0.529", () => {
    expect(CUBIC_C).toBe(0.4);
    expect(CUBIC_BETA).toBe(0.7);
    expect(CUBIC_ALPHA).toBeCloseTo(0.9 / 1.7, 12);
  });

  test("K = ∛((W_max − cwnd_epoch)/C): W_max 100 after a β reduction gives ∛75 ≈ 4.2172 s", () => {
    expect(cubicK(100, 70)).toBeCloseTo(Math.cbrt(75), 12);
    expect(cubicK(100, 70)).toBeCloseTo(4.2172, 4);
    expect(cubicK(10, 7)).toBeCloseTo(1.9574, 4);
    expect(cubicK(50, 60)).toBe(0);
  });

  test("W_cubic starts at cwnd_epoch, plateaus at W_max at t = K, and is symmetric around it", () => {
    const k = cubicK(100, 70);
    expect(wCubic(0, k, 100)).toBeCloseTo(70, 9);
    expect(wCubic(k, k, 100)).toBe(100);
    expect(wCubic(k + 1, k, 100) - 100).toBeCloseTo(100 - wCubic(k - 1, k, 100), 9);
    // Worked values: W(1) = 0.4·(1 − 4.2172)³ + 100 ≈ 86.68; W(8) = 0.4·(3.7828)³ + 100 ≈ 121.65.
    expect(wCubic(1, k, 100)).toBeCloseTo(86.68, 2);
    expect(wCubic(8, k, 100)).toBeCloseTo(121.65, 2);
  });
});

describe("CUBIC multiplicative decrease (RFC 9438 §4.6, §4.7)", () => {
  test("a loss at 100 segments: W_max = 100, ssthresh = 70, recovery window 73, cwnd 70 after recovery", () => {
    const cc = grown(100);
    expect(cc.cwnd).toBe(100 * MSS);
    cc.enterRecovery(100 * MSS, 5000);
    expect(cc.inRecovery).toBe(true);
    expect(cc.ssthresh).toBe(70 * MSS);
    expect(cc.cwnd).toBe(73 * MSS);
    expect(cc.state.wMax).toBe(100);
    cc.onDupAckInRecovery();
    expect(cc.cwnd).toBe(74 * MSS);
    // A partial ACK of two segments deflates by two and adds one back (RFC 6582 §3.2 step 3).
    expect(cc.onAckInRecovery(3000, 2 * MSS, 90 * MSS)).toBe("partial");
    expect(cc.cwnd).toBe(73 * MSS);
    expect(cc.onAckInRecovery(5000, MSS, 90 * MSS)).toBe("exit");
    expect(cc.inRecovery).toBe(false);
    expect(cc.cwnd).toBe(70 * MSS);
  });

  test("ssthresh is β·FlightSize (RFC 9438 §4.6); β·cwnd only when asked", () => {
    const cc = grown(100);
    // An application-limited flight of 40 segments at a loss.
    cc.enterRecovery(40 * MSS, 1);
    expect(cc.ssthresh).toBe(28 * MSS);
    expect(cc.state.wMax).toBe(100);
    const byCwnd = grown(100, { reduceFrom: "cwnd" });
    byCwnd.enterRecovery(40 * MSS, 1);
    expect(byCwnd.ssthresh).toBe(70 * MSS);
  });

  test("ssthresh is at least two segments", () => {
    const cc = new Cubic(MSS, 2);
    cc.enterRecovery(2 * MSS, 1);
    expect(cc.ssthresh).toBe(2 * MSS);
  });

  test("fast convergence: a loss below the previous W_max releases bandwidth, W_max = cwnd·(1 + β)/2", () => {
    const cc = grown(100);
    lossAndRecover(cc);
    expect(cc.cwnd).toBe(70 * MSS);
    lossAndRecover(cc);
    expect(cc.state.wMax).toBeCloseTo(70 * 0.85, 9);
    expect(cc.ssthresh).toBe(49 * MSS);

    const plain = grown(100, { fastConvergence: false });
    lossAndRecover(plain);
    lossAndRecover(plain);
    expect(plain.state.wMax).toBe(70);
  });
});

describe("CUBIC window growth after a loss (RFC 9438 §4.2, §4.4, §4.5)", () => {
  test("cwnd follows W_cubic: concave up to W_max at K, flat there, convex beyond", () => {
    const cc = grown(100);
    lossAndRecover(cc);
    cc.onRttSample(100);
    const k = cubicK(100, 70);
    const seen: [number, number, number][] = [];
    rounds(cc, 0, 100, 90, (t) => seen.push([t, cc.cwnd / MSS, cc.state.wEst]));
    // The first ACK of the stage set t = 0 at time 100 ms.
    expect(cc.state.epochStart).toBe(100);
    expect(cc.state.k).toBeCloseTo(k, 9);
    for (const [t, w, est] of seen) {
      const tEpoch = (t - 100) / 1000;
      // Never past the target W_cubic(t + RTT) (or W_est in the Reno-friendly region), and one
      // round of ACKs keeps it at least at W_cubic(t).
      expect(w).toBeLessThanOrEqual(Math.max(wCubic(tEpoch + 0.1, k, 100), est) + 0.01);
      expect(w).toBeGreaterThanOrEqual(Math.max(wCubic(tEpoch, k, 100), est) - 0.01);
    }
    const at = (ms: number) => seen.find(([t]) => t === ms)![1];
    // Concave: fast at first, slow near W_max.
    expect(at(1100) - at(100)).toBeGreaterThan(at(4100) - at(3100));
    // Plateau: within a segment of W_max around t = K (4.2 s after the stage began).
    expect(Math.abs(at(4300) - 100)).toBeLessThan(1);
    // Convex: accelerating past W_max.
    expect(at(9000) - at(8000)).toBeGreaterThan(at(6000) - at(5000));
    expect(at(9000)).toBeGreaterThan(130);
    // With a 100 ms RTT, W_est (α, then 1 segment per RTT once past cwnd_prior = 100) overtakes the
    // plateau of W_cubic around 6 s: the Reno-friendly region (RFC 9438 §4.3) sets cwnd there.
    const mid = seen.find(([t]) => t === 7000)!;
    expect(mid[1]).toBeCloseTo(mid[2], 2);
    expect(mid[1]).toBeGreaterThan(wCubic(6.9 + 0.1, k, 100));
  });

  test("growth per ACK is capped at a target of 1.5·cwnd", () => {
    const cc = grown(100);
    lossAndRecover(cc);
    cc.onAck(MSS, 0); // starts the stage
    const before = cc.cwnd / MSS;
    cc.onAck(MSS, 100_000); // t = 100 s: W_cubic far above 1.5·cwnd
    expect(cc.cwnd / MSS).toBeCloseTo(before + 0.5, 1);
  });

  test("the idle time of an application-limited pause does not count in t (RFC 9438 §5.8)", () => {
    const cc = grown(100);
    lossAndRecover(cc);
    rounds(cc, 0, 100, 10);
    cc.onIdleRestart();
    expect(cc.cwnd).toBe(10 * MSS);
    expect(cc.state.epochStart).toBeUndefined();
  });
});

describe("CUBIC Reno-friendly region (RFC 9438 §4.3)", () => {
  test("on a short-RTT path W_est, growing α per RTT and then 1 per RTT, sets cwnd", () => {
    // cwnd 10 → loss → 7; K ≈ 1.96 s, so W_cubic barely moves in the first second while rounds are 10 ms.
    const cc = grown(10);
    lossAndRecover(cc);
    expect(cc.cwnd).toBe(7 * MSS);
    cc.onRttSample(10);
    const w: number[] = [7];
    const est: number[] = [];
    rounds(cc, 0, 10, 30, () => {
      w.push(cc.cwnd / MSS);
      est.push(cc.state.wEst);
    });
    // In the Reno-friendly region cwnd is W_est.
    for (let r = 0; r < 30; r++) expect(w[r + 1]).toBeCloseTo(est[r]!, 2);
    // First round: seven ACKs at α/cwnd each, about α = 0.53 in all.
    expect(w[1]! - w[0]!).toBeGreaterThan(0.49);
    expect(w[1]! - w[0]!).toBeLessThan(CUBIC_ALPHA);
    // Once W_est reaches cwnd_prior (10), α becomes 1: about one segment per round.
    const r10 = w.findIndex((x) => x >= 10);
    expect(r10).toBeGreaterThan(4);
    expect(r10).toBeLessThan(8);
    const later = w[r10 + 10]! - w[r10 + 9]!;
    expect(later).toBeGreaterThan(0.9);
    expect(later).toBeLessThanOrEqual(1);
    // W_cubic(t) is still below W_est: the cubic function alone would be near 8 segments.
    expect(wCubic(0.3, cc.state.k, 10)).toBeLessThan(est[29]!);
  });
});

describe("CUBIC after a timeout (RFC 9438 §4.8)", () => {
  test("cwnd = 1 segment, ssthresh = β·cwnd; the next stage uses K = 0 and W_max = cwnd_epoch", () => {
    const cc = grown(100);
    cc.onRetransmitTimeout(100 * MSS);
    expect(cc.cwnd).toBe(MSS);
    expect(cc.ssthresh).toBe(70 * MSS);
    // A repeated timeout before any ACK keeps ssthresh (RFC 5681 §3.1).
    cc.onRetransmitTimeout(MSS);
    expect(cc.ssthresh).toBe(70 * MSS);
    while (cc.cwnd < cc.ssthresh) cc.onAck(MSS, 500);
    cc.onAck(MSS, 600);
    expect(cc.state.k).toBe(0);
    expect(cc.state.wMax).toBe(cc.state.cwndEpoch);
    expect(cc.state.wEst).toBeGreaterThanOrEqual(cc.state.cwndEpoch);
  });
});

describe("HyStart++ (RFC 9406 §4.2)", () => {
  /**
   * A sender that keeps cwnd in flight. A round is what was in flight when the previous one ended
   * (RFC 9406 §4.2 windowEnd = SND.NXT); every ACK of round i carries the RTT `rtts[i]`.
   */
  function run(cc: Cubic, rtts: number[]): { phases: string[]; cwnds: number[] } {
    let una = 0;
    let nxt = cc.cwnd;
    let end = nxt;
    let i = 0;
    let t = rtts[0]!;
    const phases: string[] = [];
    const cwnds: number[] = [];
    while (i < rtts.length) {
      una += MSS;
      cc.onRttSample(rtts[i]!);
      cc.onAckSeq(una, nxt);
      cc.onAck(MSS, t);
      if (((una - end) | 0) >= 0) {
        phases.push(cc.state.hystart);
        cwnds.push(cc.cwnd / MSS);
        i++;
        t += rtts[i] ?? 0;
        end = nxt;
      }
      if (((nxt - (una + cc.cwnd)) | 0) < 0) nxt = una + cc.cwnd;
    }
    return { phases, cwnds };
  }

  test("a round whose minimum RTT rises by RttThresh leaves slow start for CSS, and CSS_ROUNDS later ends it", () => {
    const cc = new Cubic(MSS, 10);
    const { phases, cwnds } = run(cc, [100, 100, 100, 120, 120, 120, 120, 120, 120, 120]);
    // RttThresh = max(4, min(100/8, 16)) = 12.5 ms: 120 ≥ 112.5.
    expect(phases.slice(0, 4)).toEqual(["ss", "ss", "ss", "css"]);
    // In CSS the window grows by a quarter of slow start's rate.
    const ssGrowth = cwnds[2]! / cwnds[1]!;
    const cssGrowth = cwnds[5]! / cwnds[4]!;
    expect(ssGrowth).toBeGreaterThan(1.9);
    expect(ssGrowth).toBeLessThanOrEqual(2);
    expect(cssGrowth).toBeGreaterThan(1.2);
    expect(cssGrowth).toBeLessThanOrEqual(1.25);
    const done = phases.indexOf("done");
    expect(done).toBeGreaterThan(3);
    expect(done).toBeLessThanOrEqual(3 + 5 + 1);
    // Leaving CSS sets ssthresh to cwnd (in congestion avoidance from then on).
    expect(cc.ssthresh).toBeLessThanOrEqual(cc.cwnd + MSS);
    expect(cc.ssthresh).toBeLessThan(Number.MAX_SAFE_INTEGER);
  });

  test("a CSS round with an RTT below the baseline was a spurious exit: back to slow start", () => {
    const cc = new Cubic(MSS, 10);
    const { phases } = run(cc, [100, 100, 120, 100]);
    expect(phases).toEqual(["ss", "ss", "css", "ss"]);
  });

  test("small RTT increases (below RttThresh = 4 ms minimum) keep slow start", () => {
    const cc = new Cubic(MSS, 10);
    const { phases } = run(cc, [20, 20, 23, 23]);
    expect(phases).toEqual(["ss", "ss", "ss", "ss"]);
  });

  test("a loss ends HyStart++; with hystart off the phase is done from the start", () => {
    const cc = new Cubic(MSS, 10);
    cc.enterRecovery(cc.cwnd, 1);
    expect(cc.state.hystart).toBe("done");
    expect(new Cubic(MSS, 10, { hystart: false }).state.hystart).toBe("done");
  });
});

describe("CUBIC as a CongestionControl", () => {
  test("factory, name, initial window (RFC 6928), slow start by min(N, SMSS), MSS change", () => {
    const cc = newCubic(1460, 10);
    expect(cc.name).toBe("cubic");
    expect(cc.cwnd).toBe(14600);
    expect(cc.ssthresh).toBe(Number.MAX_SAFE_INTEGER);
    cc.onAck(2920, 0);
    expect(cc.cwnd).toBe(14600 + 1460);
    cc.setMss(1000);
    expect(cc.cwnd).toBe(16060);
  });

  test("an MSS change keeps cwnd, ssthresh and W_max in bytes; K follows the new segment units", () => {
    const cc = grown(100);
    lossAndRecover(cc);
    cc.onAck(MSS, 0);
    const k = cc.state.k;
    const cwnd = cc.cwnd;
    cc.setMss(500);
    expect(Math.abs(cc.cwnd - cwnd)).toBeLessThanOrEqual(1);
    expect(cc.ssthresh).toBe(70 * MSS);
    expect(cc.state.wMax).toBeCloseTo(200, 9);
    // K = ∛((W_max − cwnd_epoch)/C) in the new units: ∛(60/0.4) rather than ∛(30/0.4).
    expect(cc.state.k).toBeCloseTo(Math.cbrt(60 / 0.4), 9);
    expect(cc.state.k).toBeGreaterThan(k);
  });
});

describe("CUBIC undo of a spurious congestion event (RFC 9438 §4.9)", () => {
  test("the state before the reduction comes back: cwnd, ssthresh, W_max, K, epoch", () => {
    const cc = grown(50);
    lossAndRecover(cc);
    let t = rounds(cc, 0, 100, 5);
    const before = { cwnd: cc.cwnd, ssthresh: cc.ssthresh, ...cc.state };
    cc.enterRecovery(cc.cwnd, 2000);
    expect(cc.ssthresh).toBeLessThan(before.ssthresh);
    expect(cc.state.wMax).not.toBe(before.wMax);
    cc.onAckInRecovery(2000, MSS, 1_000_000);
    cc.undo(before.cwnd, before.ssthresh);
    expect(cc.inRecovery).toBe(false);
    expect(cc.cwnd).toBe(before.cwnd);
    expect(cc.ssthresh).toBe(before.ssthresh);
    expect(cc.state.wMax).toBe(before.wMax);
    expect(cc.state.k).toBe(before.k);
    expect(cc.state.epochStart).toBe(before.epochStart);
    // Growth goes on along the old curve.
    t = rounds(cc, t, 100, 1);
    expect(cc.cwnd).toBeGreaterThanOrEqual(before.cwnd);
  });

  test("an undone timeout (F-RTO) takes back RFC 9438 §4.8's after-timeout stage: a later loss gets K > 0", () => {
    const run = (undoTimeout: boolean) => {
      const cc = grown(50);
      lossAndRecover(cc);
      const t = rounds(cc, 0, 100, 5);
      const cwnd = cc.cwnd;
      const ssthresh = cc.ssthresh;
      if (undoTimeout) {
        cc.onRetransmitTimeout(cwnd);
        expect(cc.cwnd).toBe(MSS);
        cc.undo(cwnd, ssthresh);
        expect(cc.cwnd).toBe(cwnd);
      }
      // A real loss later: its congestion avoidance stage starts from the W_max the loss set (K > 0), as
      // it would had the timeout never happened; a timeout left in force would make it K = 0, W_max = cwnd.
      lossAndRecover(cc);
      rounds(cc, t, 100, 1);
      return cc.state.k;
    };
    const k = run(false);
    expect(k).toBeGreaterThan(0);
    expect(run(true)).toBeCloseTo(k, 3);
  });

  test("from slow start, ssthresh returns to 'none'", () => {
    const cc = grown(30);
    const cwnd = cc.cwnd;
    const ssthresh = cc.ssthresh;
    cc.enterRecovery(cwnd, 1000);
    cc.undo(cwnd, ssthresh);
    expect(cc.ssthresh).toBe(Number.MAX_SAFE_INTEGER);
    expect(cc.cwnd).toBe(cwnd);
  });
});
