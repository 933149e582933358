import { describe, expect, test } from "bun:test";
import { CryptoRandom, SeededRandom } from "./random.ts";

const take = (r: { u32(): number }, n: number) => Array.from({ length: n }, () => r.u32());

describe("SeededRandom", () => {
  test("the same seed gives the same sequence", () => {
    expect(take(new SeededRandom(42), 100)).toEqual(take(new SeededRandom(42), 100));
    expect(take(new SeededRandom(), 10)).toEqual(take(new SeededRandom(1), 10));
  });

  test("different seeds give different sequences", () => {
    expect(take(new SeededRandom(1), 10)).not.toEqual(take(new SeededRandom(2), 10));
  });

  test("seeds are taken modulo 2**32", () => {
    expect(take(new SeededRandom(0x1_0000_0001), 10)).toEqual(take(new SeededRandom(1), 10));
  });

  test("values are unsigned 32-bit integers spread over the range", () => {
    const r = new SeededRandom(7);
    const xs = take(r, 4000);
    for (const x of xs) {
      expect(Number.isInteger(x)).toBe(true);
      expect(x).toBeGreaterThanOrEqual(0);
      expect(x).toBeLessThanOrEqual(0xffffffff);
    }
    expect(new Set(xs).size).toBeGreaterThan(3990);
    // Each of the 16 top-nibble buckets gets a fair share.
    const buckets = new Array<number>(16).fill(0);
    for (const x of xs) buckets[x >>> 28]!++;
    for (const b of buckets) expect(b).toBeGreaterThan(150);
  });

  test("a zero seed still produces a varied sequence", () => {
    expect(new Set(take(new SeededRandom(0), 100)).size).toBe(100);
  });

  test("float is in [0, 1)", () => {
    const r = new SeededRandom(3);
    for (let i = 0; i < 1000; i++) {
      const f = r.float();
      expect(f).toBeGreaterThanOrEqual(0);
      expect(f).toBeLessThan(1);
    }
  });
});

describe("CryptoRandom", () => {
  test("gives unsigned 32-bit values, refilling its buffer as needed", () => {
    const r = new CryptoRandom();
    const xs = take(r, 600);
    for (const x of xs) {
      expect(Number.isInteger(x)).toBe(true);
      expect(x).toBeGreaterThanOrEqual(0);
      expect(x).toBeLessThanOrEqual(0xffffffff);
    }
    expect(new Set(xs).size).toBeGreaterThan(590);
  });
});
