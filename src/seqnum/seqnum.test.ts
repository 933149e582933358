import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import {
  inRange,
  inWindow,
  seqAdd,
  seqGreaterThan,
  seqGreaterThanEq,
  seqLessThan,
  seqLessThanEq,
  seqMax,
  seqMin,
  seqSize,
  seqSub,
} from "./seqnum.ts";

const MAX = 0xffffffff;
const u32 = fc.integer({ min: 0, max: MAX });
/** A distance that keeps two numbers unambiguously ordered (less than 2**31). */
const dist = fc.integer({ min: 1, max: 0x7fffffff });

describe("comparisons across the wrap (RFC 9293 §3.4)", () => {
  test("plain order away from the wrap", () => {
    expect(seqLessThan(1, 2)).toBe(true);
    expect(seqLessThan(2, 1)).toBe(false);
    expect(seqLessThan(5, 5)).toBe(false);
    expect(seqLessThanEq(5, 5)).toBe(true);
    expect(seqGreaterThan(2, 1)).toBe(true);
    expect(seqGreaterThanEq(1, 1)).toBe(true);
    expect(seqGreaterThanEq(0, 1)).toBe(false);
  });

  test("2**32 - 1 comes before 0", () => {
    expect(seqLessThan(MAX, 0)).toBe(true);
    expect(seqGreaterThan(0, MAX)).toBe(true);
    expect(seqLessThan(0, MAX)).toBe(false);
    expect(seqLessThan(MAX - 10, 10)).toBe(true);
  });

  test("numbers exactly 2**31 apart are ambiguous: each is less than the other", () => {
    expect(seqLessThan(0, 0x80000000)).toBe(true);
    expect(seqLessThan(0x80000000, 0)).toBe(true);
  });

  test("a + d is after a for every distance below 2**31", () => {
    fc.assert(
      fc.property(u32, dist, (a, d) => {
        const b = seqAdd(a, d);
        expect(seqLessThan(a, b)).toBe(true);
        expect(seqLessThanEq(a, b)).toBe(true);
        expect(seqGreaterThan(b, a)).toBe(true);
        expect(seqGreaterThanEq(b, a)).toBe(true);
        expect(seqLessThan(b, a)).toBe(false);
        expect(seqGreaterThan(a, b)).toBe(false);
      }),
    );
  });

  test("the comparisons agree with each other", () => {
    fc.assert(
      fc.property(u32, u32, (a, b) => {
        expect(seqLessThanEq(a, b)).toBe(seqLessThan(a, b) || a === b);
        expect(seqGreaterThanEq(a, b)).toBe(seqGreaterThan(a, b) || a === b);
        expect(seqGreaterThan(a, b)).toBe(seqLessThan(b, a) && a !== b && seqSize(a, b) !== 0x80000000);
      }),
    );
  });

  test("shifting both operands keeps their order", () => {
    fc.assert(
      fc.property(u32, u32, u32, (a, b, k) => {
        expect(seqLessThan(seqAdd(a, k), seqAdd(b, k))).toBe(seqLessThan(a, b));
      }),
    );
  });
});

describe("arithmetic", () => {
  test("seqAdd wraps and stays unsigned", () => {
    expect(seqAdd(MAX, 1)).toBe(0);
    expect(seqAdd(MAX, 2)).toBe(1);
    expect(seqAdd(0, -1)).toBe(MAX);
    expect(seqAdd(0x7fffffff, 1)).toBe(0x80000000);
    expect(seqSub(0, 1)).toBe(MAX);
    expect(seqSub(10, 3)).toBe(7);
  });

  test("results are always in [0, 2**32)", () => {
    fc.assert(
      fc.property(u32, fc.integer({ min: -MAX, max: MAX }), (a, n) => {
        for (const r of [seqAdd(a, n), seqSub(a, n)]) {
          expect(Number.isInteger(r)).toBe(true);
          expect(r).toBeGreaterThanOrEqual(0);
          expect(r).toBeLessThanOrEqual(MAX);
        }
      }),
    );
  });

  test("seqSize is the distance: a + size(a, b) = b", () => {
    expect(seqSize(MAX, 0)).toBe(1);
    expect(seqSize(0, MAX)).toBe(MAX);
    expect(seqSize(7, 7)).toBe(0);
    fc.assert(
      fc.property(u32, u32, (a, b) => {
        expect(seqAdd(a, seqSize(a, b))).toBe(b);
        expect(seqSub(b, seqSize(a, b))).toBe(a);
      }),
    );
  });

  test("seqAdd and seqSub undo each other", () => {
    fc.assert(
      fc.property(u32, u32, (a, n) => {
        expect(seqSub(seqAdd(a, n), n)).toBe(a);
      }),
    );
  });

  test("seqMax and seqMin pick the later and earlier number across the wrap", () => {
    expect(seqMax(MAX, 3)).toBe(3);
    expect(seqMin(MAX, 3)).toBe(MAX);
    expect(seqMax(4, 4)).toBe(4);
    fc.assert(
      fc.property(u32, dist, (a, d) => {
        const b = seqAdd(a, d);
        expect(seqMax(a, b)).toBe(b);
        expect(seqMax(b, a)).toBe(b);
        expect(seqMin(a, b)).toBe(a);
        expect(seqMin(b, a)).toBe(a);
      }),
    );
  });
});

describe("ranges and windows", () => {
  test("inRange is half-open: first in, end out", () => {
    expect(inRange(10, 10, 20)).toBe(true);
    expect(inRange(19, 10, 20)).toBe(true);
    expect(inRange(20, 10, 20)).toBe(false);
    expect(inRange(9, 10, 20)).toBe(false);
    expect(inRange(10, 10, 10)).toBe(false);
  });

  test("inRange across the wrap", () => {
    const a = MAX - 4;
    const b = 5;
    expect(inRange(MAX, a, b)).toBe(true);
    expect(inRange(0, a, b)).toBe(true);
    expect(inRange(4, a, b)).toBe(true);
    expect(inRange(5, a, b)).toBe(false);
    expect(inRange(a - 1, a, b)).toBe(false);
  });

  test("RFC 9293 §3.10.7.4 acceptability: RCV.NXT =< SEG.SEQ < RCV.NXT+RCV.WND", () => {
    const rcvNxt = MAX - 99;
    const rcvWnd = 200;
    expect(inWindow(rcvNxt, rcvNxt, rcvWnd)).toBe(true);
    expect(inWindow(seqAdd(rcvNxt, 199), rcvNxt, rcvWnd)).toBe(true);
    expect(inWindow(seqAdd(rcvNxt, 200), rcvNxt, rcvWnd)).toBe(false);
    expect(inWindow(seqSub(rcvNxt, 1), rcvNxt, rcvWnd)).toBe(false);
    expect(inWindow(rcvNxt, rcvNxt, 0)).toBe(false);
  });

  test("inWindow(v, first, size) equals inRange(v, first, first + size)", () => {
    fc.assert(
      fc.property(u32, u32, fc.integer({ min: 0, max: MAX }), (v, first, size) => {
        expect(inWindow(v, first, size)).toBe(inRange(v, first, seqAdd(first, size)));
      }),
    );
  });

  test("every offset inside a window is in it, every offset past it is not", () => {
    fc.assert(
      fc.property(u32, fc.integer({ min: 1, max: 1 << 30 }), fc.nat(), (first, size, k) => {
        expect(inWindow(seqAdd(first, k % size), first, size)).toBe(true);
        expect(inWindow(seqAdd(first, size + (k % size)), first, size)).toBe(false);
        expect(inWindow(seqSub(first, 1 + (k % size)), first, size)).toBe(false);
      }),
    );
  });

  test("a value in a range is ordered between its ends", () => {
    fc.assert(
      fc.property(u32, dist, fc.nat(), (a, d, k) => {
        const b = seqAdd(a, d);
        const v = seqAdd(a, k % d);
        expect(inRange(v, a, b)).toBe(true);
        expect(seqLessThanEq(a, v)).toBe(true);
        expect(seqLessThan(v, b)).toBe(true);
      }),
    );
  });
});
