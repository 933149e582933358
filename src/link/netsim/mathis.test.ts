import { describe, expect, test } from "bun:test";
import { bdpBytes, MATHIS_C, mathisBitsPerSecond, mathisBytesPerSecond, mathisLossFor } from "./mathis.ts";

describe("Mathis bound", () => {
  test("C is √(3/2) ≈ 1.22", () => {
    expect(MATHIS_C).toBeCloseTo(1.2247, 4);
  });

  test("worked example: MSS 1460, RTT 100 ms, 1% loss ≈ 178.8 kB/s ≈ 1.43 Mbit/s", () => {
    // (1460 B / 0.1 s) · 1.224745 / √0.01 = 14 600 B/s · 12.24745
    expect(mathisBytesPerSecond(1460, 100, 0.01)).toBeCloseTo(178_812.75, 1);
    expect(mathisBitsPerSecond(1460, 100, 0.01)).toBeCloseTo(1_430_502, 0);
  });

  test("scales as 1/RTT and 1/√p", () => {
    const base = mathisBytesPerSecond(1460, 50, 0.001);
    expect(mathisBytesPerSecond(1460, 100, 0.001)).toBeCloseTo(base / 2, 6);
    expect(mathisBytesPerSecond(1460, 50, 0.004)).toBeCloseTo(base / 2, 6);
    expect(mathisBytesPerSecond(1460, 50, 0.001, 1)).toBeCloseTo(base / MATHIS_C, 6);
  });

  test("no loss, no bound", () => {
    expect(mathisBytesPerSecond(1460, 10, 0)).toBe(Number.POSITIVE_INFINITY);
  });

  test("mathisLossFor inverts the bound", () => {
    const p = mathisLossFor(1460, 100, 10_000_000);
    expect(mathisBitsPerSecond(1460, 100, p)).toBeCloseTo(10_000_000, 3);
    expect(mathisLossFor(1460, 1, 1)).toBe(1);
  });

  test("bandwidth-delay product", () => {
    expect(bdpBytes(100_000_000, 100)).toBe(1_250_000);
  });

  test("impossible inputs throw RangeError", () => {
    expect(() => mathisBytesPerSecond(0, 100, 0.01)).toThrow(RangeError);
    expect(() => mathisBytesPerSecond(1460, -1, 0.01)).toThrow(RangeError);
    expect(() => mathisBytesPerSecond(1460, 100, 2)).toThrow(RangeError);
    expect(() => mathisLossFor(1460, 100, 0)).toThrow(RangeError);
  });
});
