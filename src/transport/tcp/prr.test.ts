import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { Prr } from "./prr.ts";

/**
 * The worked examples count in segments, as RFC 6937 §4 and its tables do: one "octet" here is one
 * segment, so CEIL rounds to whole segments (with MSS = 1000 octets CEIL rounds to octets, and the
 * allowance carries over to the next ACK instead).
 */
const MSS = 1;

describe("PRR proportional part (RFC 6937 §3, pipe > ssthresh)", () => {
  test("Reno halving (ssthresh = RecoverFS/2): one segment sent for every two delivered", () => {
    // 20 segments in flight, one lost; each ACK delivers one segment (RFC 6937 §4 example shape).
    const prr = new Prr(MSS);
    prr.start(10 * MSS, 20 * MSS);
    const sent: number[] = [];
    let pipe = 19 * MSS;
    for (let i = 0; i < 19; i++) {
      pipe -= MSS;
      const n = prr.onAck(MSS, pipe);
      // The sender sends whole segments within sndcnt.
      const segs = Math.floor(n / MSS);
      for (let k = 0; k < segs; k++) prr.onSent(MSS);
      pipe += segs * MSS;
      sent.push(segs);
    }
    // CEIL(prr_delivered · 10/20) − prr_out: 1, 0, 1, 0, ...; the first one is the fast retransmit.
    expect(sent.slice(0, 8)).toEqual([1, 0, 1, 0, 1, 0, 1, 0]);
    expect(prr.prrOut).toBe(10 * MSS);
    expect(prr.end()).toBe(10 * MSS);
    expect(prr.active).toBe(false);
  });

  test("CUBIC's β = 0.7: seven segments sent for every ten delivered", () => {
    const prr = new Prr(MSS);
    prr.start(14 * MSS, 20 * MSS);
    let pipe = 19 * MSS;
    const sent: number[] = [];
    for (let i = 0; i < 10; i++) {
      pipe -= MSS;
      const segs = Math.floor(prr.onAck(MSS, pipe) / MSS);
      for (let k = 0; k < segs; k++) prr.onSent(MSS);
      pipe += segs * MSS;
      sent.push(segs);
    }
    expect(sent.reduce((a, b) => a + b, 0)).toBe(7);
    // ceil(d · 0.7) − out for d = 1..10: 1, 1, 1, 0, 1, 1, 0, 1, 1, 0.
    expect(sent).toEqual([1, 1, 1, 0, 1, 1, 0, 1, 1, 0]);
  });

  test("in octets, an allowance smaller than a segment carries over to the next ACK", () => {
    const prr = new Prr(1000);
    prr.start(10_000, 20_000);
    expect(prr.onAck(1000, 18_000)).toBe(500);
    expect(prr.onAck(1000, 17_000)).toBe(1000);
    prr.onSent(1000);
    expect(prr.onAck(1000, 17_000)).toBe(500);
  });

  test("a stretch ACK delivering several segments allows proportionally more at once", () => {
    const prr = new Prr(MSS);
    prr.start(10 * MSS, 20 * MSS);
    expect(prr.onAck(4 * MSS, 15 * MSS)).toBe(2 * MSS);
    expect(prr.cwnd(15 * MSS)).toBe(17 * MSS);
  });

  test("sending more than allowed (the fast retransmit) leaves nothing for the next ACK", () => {
    const prr = new Prr(MSS);
    prr.start(10 * MSS, 20 * MSS);
    prr.onSent(MSS);
    prr.onSent(MSS);
    expect(prr.onAck(MSS, 18 * MSS)).toBe(0);
  });
});

describe("PRR reduction bound (RFC 6937 §3, pipe ≤ ssthresh)", () => {
  test("PRR-SSRB: after heavy loss the window rebuilds like slow start, one extra MSS per ACK", () => {
    // Half the flight lost: pipe drops below ssthresh at once.
    const prr = new Prr(MSS, "ssrb");
    prr.start(10 * MSS, 20 * MSS);
    let pipe = 4 * MSS;
    const sent: number[] = [];
    for (let i = 0; i < 4; i++) {
      pipe -= MSS;
      const n = prr.onAck(MSS, pipe);
      const segs = Math.floor(n / MSS);
      for (let k = 0; k < segs; k++) prr.onSent(MSS);
      pipe += segs * MSS;
      sent.push(segs);
    }
    // limit = MAX(prr_delivered − prr_out, DeliveredData) + MSS = 2 segments per ACK of one.
    expect(sent).toEqual([2, 2, 2, 2]);
    // And never past ssthresh.
    expect(prr.onAck(MSS, 10 * MSS)).toBe(0);
  });

  test("PRR-CRB: never sends more than was delivered", () => {
    const prr = new Prr(MSS, "crb");
    prr.start(10 * MSS, 20 * MSS);
    let pipe = 4 * MSS;
    const sent: number[] = [];
    for (let i = 0; i < 4; i++) {
      pipe -= MSS;
      const segs = Math.floor(prr.onAck(MSS, pipe) / MSS);
      for (let k = 0; k < segs; k++) prr.onSent(MSS);
      pipe += segs * MSS;
      sent.push(segs);
    }
    expect(sent).toEqual([1, 1, 1, 1]);
  });

  test("the bound is capped at ssthresh − pipe", () => {
    const prr = new Prr(MSS, "ssrb");
    prr.start(10 * MSS, 20 * MSS);
    expect(prr.onAck(8 * MSS, 9 * MSS)).toBe(MSS);
  });
});

describe("PRR properties (fast-check)", () => {
  test("with pipe above ssthresh, prr_out tracks CEIL(prr_delivered · ssthresh / RecoverFS) exactly", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 4, max: 200 }),
        fc.double({ min: 0.3, max: 0.9, noNaN: true }),
        fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 200 }),
        (flightSegs, beta, acks) => {
          const recoverFs = flightSegs * MSS;
          const ssthresh = Math.max(2 * MSS, Math.floor(recoverFs * beta));
          const prr = new Prr(MSS);
          prr.start(ssthresh, recoverFs);
          let delivered = 0;
          for (const segs of acks) {
            if (delivered + segs * MSS > recoverFs) break;
            delivered += segs * MSS;
            // Keep pipe above ssthresh: the proportional branch.
            const n = prr.onAck(segs * MSS, ssthresh + MSS);
            expect(n).toBeGreaterThanOrEqual(0);
            prr.onSent(n);
            // Sending all it may, the sender stays exactly on the proportional line.
            expect(prr.prrOut).toBe(Math.ceil((delivered * ssthresh) / recoverFs));
          }
        },
      ),
      { numRuns: 300, seed: 6937 },
    );
  });
});
