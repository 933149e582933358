import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import {
  initPipe,
  PIPE_HEAD_OFFSET,
  PIPE_PAD_MARKER,
  PIPE_RING_OFFSET,
  PIPE_TAIL_OFFSET,
  pipeMaxPayload,
  pipeSize,
  pipeSlotSize,
} from "./layout.ts";
import { PipeRx } from "./rx.ts";
import { PipeTx } from "./tx.ts";

const BASE = 64;

function makePipe(capacity: number) {
  const buffer = new SharedArrayBuffer(BASE + pipeSize(capacity));
  initPipe(buffer, BASE, capacity);
  return {
    buffer,
    u8: new Uint8Array(buffer),
    ctl: new Int32Array(buffer, BASE, PIPE_RING_OFFSET / 4),
    ring32: new Uint32Array(buffer, BASE + PIPE_RING_OFFSET, capacity / 4),
    tx: new PipeTx(buffer, BASE, capacity),
    rx: new PipeRx(buffer, BASE, capacity),
  };
}

function fill(u8: Uint8Array, off: number, len: number, seed: number): void {
  for (let i = 0; i < len; i++) u8[off + i] = (seed * 31 + i * 7) & 0xff;
}

function matches(u8: Uint8Array, off: number, len: number, seed: number): boolean {
  for (let i = 0; i < len; i++) if (u8[off + i] !== ((seed * 31 + i * 7) & 0xff)) return false;
  return true;
}

describe("pipe layout", () => {
  test("slot sizes: 4-byte length plus payload padded to 4", () => {
    expect([0, 1, 4, 5, 8].map(pipeSlotSize)).toEqual([4, 8, 8, 12, 12]);
    expect(pipeMaxPayload(1024)).toBe(508);
  });

  test("bad placements throw RangeError when the pipe is opened", () => {
    const b = new SharedArrayBuffer(4096);
    expect(() => new PipeTx(b, 0, 1000)).toThrow(RangeError);
    expect(() => new PipeTx(b, 4, 1024)).toThrow(RangeError);
    expect(() => new PipeRx(b, 0, 4096)).toThrow(RangeError);
  });
});

describe("pipe", () => {
  test("empty pipe: pull returns -1; a pushed message is invisible until commit", () => {
    const p = makePipe(256);
    expect(p.rx.pull()).toBe(-1);
    const off = p.tx.push(5);
    expect(off).toBeGreaterThan(0);
    fill(p.u8, off, 5, 1);
    expect(p.rx.pull()).toBe(-1);
    expect(p.rx.hasPending()).toBe(false);
    p.tx.commit();
    expect(p.rx.hasPending()).toBe(true);
    expect(p.rx.pull()).toBe(5);
    expect(matches(p.u8, p.rx.offset, 5, 1)).toBe(true);
    expect(p.rx.pull()).toBe(-1);
  });

  test("abort takes back uncommitted messages", () => {
    const p = makePipe(256);
    p.tx.push(10);
    p.tx.push(10);
    expect(p.tx.uncommitted).toBe(2 * pipeSlotSize(10));
    p.tx.abort();
    p.tx.commit();
    expect(p.rx.pull()).toBe(-1);
  });

  test("full: push fails until the consumer flushes", () => {
    const p = makePipe(256);
    let n = 0;
    while (p.tx.push(12) >= 0) n++;
    expect(n).toBe(256 / pipeSlotSize(12));
    p.tx.commit();
    expect(p.rx.pull()).toBe(12);
    // Pulled but not flushed: the producer may not reuse the bytes yet.
    expect(p.tx.push(12)).toBe(-1);
    p.rx.flush();
    expect(p.tx.push(12)).toBeGreaterThanOrEqual(0);
    expect(p.tx.isDrained()).toBe(false);
  });

  test("oversize messages are refused, not split", () => {
    const p = makePipe(256);
    expect(p.tx.push(p.tx.maxPayload + 1)).toBe(-1);
    expect(p.tx.push(-1)).toBe(-1);
    expect(p.tx.push(p.tx.maxPayload)).toBeGreaterThanOrEqual(0);
  });

  test("wrap-around: a message that does not fit before the end starts at ring offset 0 after a pad", () => {
    const p = makePipe(256);
    // 200 bytes used, then released: the next 100-byte message cannot fit in the last 56.
    for (let i = 0; i < 5; i++) p.tx.push(36);
    p.tx.commit();
    while (p.rx.pull() >= 0);
    p.rx.flush();
    const off = p.tx.push(100);
    expect(off).toBe(BASE + PIPE_RING_OFFSET + 4);
    expect(p.ring32[200 / 4]).toBe(PIPE_PAD_MARKER);
    fill(p.u8, off, 100, 9);
    p.tx.commit();
    expect(p.rx.pull()).toBe(100);
    expect(p.rx.offset).toBe(off);
    expect(matches(p.u8, off, 100, 9)).toBe(true);
  });

  test("the largest message fits an empty ring whatever the positions", () => {
    const p = makePipe(256);
    for (let step = 0; step < 64; step++) {
      p.tx.push(step % 9);
      p.tx.commit();
      p.rx.pull();
      p.rx.flush();
      expect(p.tx.push(p.tx.maxPayload)).toBeGreaterThanOrEqual(0);
      p.tx.commit();
      expect(p.rx.pull()).toBe(p.tx.maxPayload);
      p.rx.flush();
    }
  });

  test("counters wrap past 2^32", () => {
    const capacity = 256;
    const buffer = new SharedArrayBuffer(BASE + pipeSize(capacity));
    const ctl = new Int32Array(buffer, BASE, 32);
    const start = 0xffffff00 | 0;
    Atomics.store(ctl, PIPE_HEAD_OFFSET / 4, start);
    Atomics.store(ctl, PIPE_TAIL_OFFSET / 4, start);
    const tx = new PipeTx(buffer, BASE, capacity);
    const rx = new PipeRx(buffer, BASE, capacity);
    const u8 = new Uint8Array(buffer);
    for (let i = 0; i < 100; i++) {
      const off = tx.push(i % 50);
      expect(off).toBeGreaterThanOrEqual(0);
      fill(u8, off, i % 50, i);
      tx.commit();
      expect(rx.pull()).toBe(i % 50);
      expect(matches(u8, rx.offset, i % 50, i)).toBe(true);
      rx.flush();
    }
    expect(Atomics.load(ctl, PIPE_TAIL_OFFSET / 4) >>> 0).toBeLessThan(0x1000);
  });

  test("random push/pull/flush sequences behave like a FIFO model (fast-check)", () => {
    const op = fc.oneof(
      fc.record({ k: fc.constant("push" as const), size: fc.integer({ min: 0, max: 130 }) }),
      fc.record({ k: fc.constant("commit" as const) }),
      fc.record({ k: fc.constant("abort" as const) }),
      fc.record({ k: fc.constant("pull" as const), n: fc.integer({ min: 1, max: 5 }) }),
      fc.record({ k: fc.constant("flush" as const) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 300 }), (ops) => {
        const capacity = 256;
        const p = makePipe(capacity);
        const pending: [number, number][] = [];
        const committed: [number, number][] = [];
        let seq = 0;
        let outstanding = 0; // bytes committed or pending and not flushed
        let pulledUnflushed = 0;
        for (const o of ops) {
          if (o.k === "push") {
            const empty = outstanding === 0;
            const off = p.tx.push(o.size);
            if (off < 0) {
              // Refusal is allowed only when the ring really lacks room (or the message is too big).
              expect(empty && o.size <= p.tx.maxPayload).toBe(false);
              continue;
            }
            fill(p.u8, off, o.size, seq);
            pending.push([o.size, seq++]);
            outstanding += pipeSlotSize(o.size);
          } else if (o.k === "commit") {
            p.tx.commit();
            committed.push(...pending.splice(0));
          } else if (o.k === "abort") {
            p.tx.abort();
            for (const [s] of pending.splice(0)) outstanding -= pipeSlotSize(s);
          } else if (o.k === "pull") {
            for (let i = 0; i < o.n; i++) {
              const len = p.rx.pull();
              const want = committed.shift();
              if (!want) {
                expect(len).toBe(-1);
                break;
              }
              expect(len).toBe(want[0]);
              expect(matches(p.u8, p.rx.offset, len, want[1])).toBe(true);
              pulledUnflushed += pipeSlotSize(len);
            }
          } else {
            p.rx.flush();
            outstanding -= pulledUnflushed;
            pulledUnflushed = 0;
          }
          // Padding can only make the ring look fuller, never hold more than its capacity.
          expect(outstanding).toBeLessThanOrEqual(capacity);
        }
        expect(p.rx.broken || p.tx.broken).toBe(false);
      }),
      { numRuns: 300, seed: 42 },
    );
  });
});

describe("pipe with a corrupt peer", () => {
  test("a length past the ring end breaks the consumer without throwing", () => {
    const p = makePipe(256);
    const off = p.tx.push(8);
    p.tx.commit();
    p.ring32[(off - BASE - PIPE_RING_OFFSET - 4) / 4] = 1000;
    expect(p.rx.pull()).toBe(-1);
    expect(p.rx.broken).toBe(true);
    expect(p.rx.pull()).toBe(-1);
    expect(p.rx.hasPending()).toBe(false);
  });

  test("a length past the committed bytes is rejected", () => {
    const p = makePipe(256);
    const off = p.tx.push(8);
    p.tx.commit();
    p.ring32[(off - BASE - PIPE_RING_OFFSET - 4) / 4] = 16;
    expect(p.rx.pull()).toBe(-1);
    expect(p.rx.broken).toBe(true);
  });

  test("a pad marker that skips past the committed bytes is rejected", () => {
    const p = makePipe(256);
    const off = p.tx.push(8);
    p.tx.commit();
    p.ring32[(off - BASE - PIPE_RING_OFFSET - 4) / 4] = PIPE_PAD_MARKER;
    expect(p.rx.pull()).toBe(-1);
    expect(p.rx.broken).toBe(true);
  });

  test("a tail more than a ring ahead, backwards, or misaligned is rejected", () => {
    for (const bad of [1024, -8, 6]) {
      const p = makePipe(256);
      Atomics.store(p.ctl, PIPE_TAIL_OFFSET / 4, bad);
      expect(p.rx.pull()).toBe(-1);
      expect(p.rx.broken).toBe(true);
    }
  });

  test("a head that runs ahead of what was committed breaks the producer", () => {
    const p = makePipe(256);
    p.tx.push(100);
    p.tx.push(100);
    p.tx.commit();
    Atomics.store(p.ctl, PIPE_HEAD_OFFSET / 4, 512);
    expect(p.tx.push(100)).toBe(-1);
    expect(p.tx.broken).toBe(true);
    expect(p.tx.push(1)).toBe(-1);
  });

  test("random bytes in the whole pipe never throw and never yield an out-of-ring payload (fast-check)", () => {
    const capacity = 256;
    fc.assert(
      fc.property(fc.uint8Array({ minLength: pipeSize(capacity), maxLength: pipeSize(capacity) }), (junk) => {
        const buffer = new SharedArrayBuffer(BASE + pipeSize(capacity));
        new Uint8Array(buffer).set(junk, BASE);
        const rx = new PipeRx(buffer, BASE, capacity);
        for (let i = 0; i < 100; i++) {
          const len = rx.pull();
          if (len < 0) break;
          expect(rx.offset).toBeGreaterThanOrEqual(BASE + PIPE_RING_OFFSET);
          expect(rx.offset + len).toBeLessThanOrEqual(BASE + PIPE_RING_OFFSET + capacity);
        }
        const tx = new PipeTx(buffer, BASE, capacity);
        for (let i = 0; i < 100; i++) {
          const off = tx.push(i % 40);
          if (off < 0) break;
          expect(off + (i % 40)).toBeLessThanOrEqual(BASE + PIPE_RING_OFFSET + capacity);
        }
      }),
      { numRuns: 500, seed: 7 },
    );
  });
});
