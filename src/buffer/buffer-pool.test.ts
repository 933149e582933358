import { describe, expect, test } from "bun:test";
import { BufferPool } from "./buffer-pool.ts";

describe("BufferPool", () => {
  test("hands out buffers of its size and reuses released ones", () => {
    const pool = new BufferPool(2048);
    const a = pool.get();
    expect(a.length).toBe(2048);
    expect(pool.allocated).toBe(1);
    pool.release(a);
    expect(pool.freeCount).toBe(1);
    expect(pool.get()).toBe(a);
    expect(pool.allocated).toBe(1);
    expect(pool.get()).not.toBe(a);
    expect(pool.allocated).toBe(2);
  });

  test("refuses buffers of another size or views into one", () => {
    const pool = new BufferPool(64);
    pool.release(new Uint8Array(32));
    const big = new Uint8Array(128);
    pool.release(big.subarray(64));
    expect(pool.freeCount).toBe(0);
  });

  test("keeps at most maxFree buffers", () => {
    const pool = new BufferPool(16, 2);
    const bufs = [pool.get(), pool.get(), pool.get()];
    for (const x of bufs) pool.release(x);
    expect(pool.freeCount).toBe(2);
  });
});
