import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { initPipe } from "../pipe/layout.ts";
import { laneLayout, queueConfig, queueConfigProblem } from "./layout.ts";
import { Notifier } from "./notifier.ts";
import { RxQueue } from "./rx.ts";
import { TxQueue } from "./tx.ts";

function makeLane(maxPacket = 1500, bufferSize = 256, bufferCount = 16) {
  const config = queueConfig(maxPacket, bufferSize, bufferCount);
  expect(queueConfigProblem(config)).toBeUndefined();
  const layout = laneLayout(64, config);
  const buffer = new SharedArrayBuffer(64 + layout.size);
  initPipe(buffer, layout.descriptorBase, config.descriptorCapacity);
  initPipe(buffer, layout.completionBase, config.completionCapacity);
  return {
    buffer,
    layout,
    u32: new Uint32Array(buffer),
    tx: new TxQueue(buffer, 64, config),
    rx: new RxQueue(buffer, 64, config),
  };
}

function bytes(len: number, seed: number): Uint8Array {
  return Uint8Array.from({ length: len }, (_, i) => (seed + i * 13) & 0xff);
}

/** Receives everything waiting; returns [protocol, bytes] pairs. */
function receiveAll(rx: RxQueue): [number, Uint8Array][] {
  const out: [number, Uint8Array][] = [];
  for (let n = rx.next(); n >= 0; n = rx.next()) {
    const dst = new Uint8Array(n);
    if (rx.copyTo(dst, 0)) out.push([rx.protocol, dst]);
  }
  rx.flush();
  return out;
}

describe("queue config", () => {
  test("rejects impossible sizes with a reason", () => {
    expect(queueConfigProblem({ ...queueConfig(1500), bufferSize: 100 })).toContain("buffer size");
    expect(queueConfigProblem({ ...queueConfig(1500), descriptorCapacity: 1000 })).toContain(
      "descriptor capacity",
    );
    expect(queueConfigProblem({ ...queueConfig(1500, 64, 4), maxPacketSize: 1000 })).toContain(
      "does not fit",
    );
  });
});

describe("TxQueue and RxQueue", () => {
  test("packets cross byte-exact with their protocol, also when they span several buffers", () => {
    const q = makeLane();
    const sizes = [0, 1, 255, 256, 257, 1000, 1500];
    for (const [i, s] of sizes.entries()) expect(q.tx.enqueue(bytes(s, i), 0, s, 0x800 + i)).toBe(true);
    expect(q.rx.next()).toBe(-1); // not committed yet
    q.tx.commit();
    const got = receiveAll(q.rx);
    expect(got.map(([p]) => p)).toEqual(sizes.map((_, i) => 0x800 + i));
    expect(got.map(([, b]) => b)).toEqual(sizes.map((s, i) => bytes(s, i)));
  });

  test("copyOut returns each packet as its own array, one buffer or several", () => {
    const q = makeLane();
    for (const [i, s] of [0, 200, 256, 700].entries()) q.tx.enqueue(bytes(s, i), 0, s, 0);
    q.tx.commit();
    const got: Uint8Array[] = [];
    while (q.rx.next() >= 0) got.push(q.rx.copyOut()!);
    q.rx.flush();
    expect(got).toEqual([0, 200, 256, 700].map((s, i) => bytes(s, i)));
    expect(got[1]!.buffer).not.toBe(got[2]!.buffer);
    expect(got[1]!.buffer).toBeInstanceOf(ArrayBuffer);
    expect(q.tx.reap()).toBe(4);
  });

  test("enqueue copies a range of a larger buffer", () => {
    const q = makeLane();
    const src = bytes(100, 3);
    q.tx.enqueue(src, 10, 60, 0);
    q.tx.commit();
    expect(receiveAll(q.rx)[0]![1]).toEqual(src.slice(10, 60));
  });

  test("buffers run out, and come back after completion", () => {
    const q = makeLane(1500, 256, 16);
    let sent = 0;
    while (q.tx.enqueue(bytes(600, sent), 0, 600, 0)) sent++;
    expect(sent).toBe(5); // 3 buffers each, 16 buffers
    expect(q.tx.stats.full).toBe(1);
    expect(q.tx.enqueue(bytes(100, 0), 0, 100, 0)).toBe(true); // the last free buffer
    q.tx.commit();
    expect(q.tx.enqueue(bytes(1, 0), 0, 1, 0)).toBe(false);
    // Received but not flushed: completions not visible yet.
    const n = q.rx.next();
    q.rx.copyTo(new Uint8Array(n), 0);
    expect(q.tx.reap()).toBe(0);
    expect(receiveAll(q.rx).length).toBe(5);
    expect(q.tx.reap()).toBe(6);
    expect(q.tx.freeBuffers).toBe(16);
    for (let round = 0; round < 50; round++) {
      expect(q.tx.enqueue(bytes(1500, round), 0, 1500, 0)).toBe(true);
      q.tx.commit();
      expect(receiveAll(q.rx)[0]![1]).toEqual(bytes(1500, round));
    }
  });

  test("packets larger than the largest packet are refused", () => {
    const q = makeLane(1500);
    expect(q.tx.enqueue(new Uint8Array(1501), 0, 1501, 0)).toBe(false);
  });

  test("drop completes a packet without copying it", () => {
    const q = makeLane(1000, 256, 4);
    q.tx.enqueue(bytes(1000, 1), 0, 1000, 0);
    q.tx.commit();
    expect(q.rx.next()).toBe(1000);
    q.rx.drop();
    q.rx.flush();
    expect(q.tx.reap()).toBe(1);
    expect(q.tx.freeBuffers).toBe(4);
  });

  test("random sizes, batches and flushes keep order and never lose buffers (fast-check)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 1500 }), fc.boolean(), fc.boolean()), { maxLength: 200 }),
        (steps) => {
          const q = makeLane(1500, 256, 24);
          const sent: Uint8Array[] = [];
          const got: Uint8Array[] = [];
          steps.forEach(([size, commit, drain], i) => {
            const b = bytes(size, i);
            if (q.tx.enqueue(b, 0, size, 0)) sent.push(b);
            if (commit) q.tx.commit();
            if (drain) for (const [, x] of receiveAll(q.rx)) got.push(x);
          });
          q.tx.commit();
          for (const [, x] of receiveAll(q.rx)) got.push(x);
          expect(got).toEqual(sent);
          q.tx.reap();
          expect(q.tx.freeBuffers).toBe(24);
          expect(q.rx.stats.malformed + q.tx.stats.badCompletions).toBe(0);
        },
      ),
      { numRuns: 200, seed: 3 },
    );
  });
});

describe("queues with a corrupt peer", () => {
  function postOne(q: ReturnType<typeof makeLane>, size = 300): number {
    q.tx.enqueue(bytes(size, 5), 0, size, 0x800);
    q.tx.commit();
    // The descriptor's first word: the ring starts 128 bytes into the pipe, after a 4-byte length.
    return (q.layout.descriptorBase + 128 + 4) >>> 2;
  }

  test("a buffer offset outside the data area is rejected, counted, not read", () => {
    const q = makeLane();
    const w = postOne(q);
    q.u32[w + 4] = q.layout.dataSize - 16; // 256 bytes from 16 before the end
    expect(q.rx.next()).toBe(300);
    expect(q.rx.copyTo(new Uint8Array(300), 0)).toBe(false);
    expect(q.rx.stats.malformed).toBe(1);
  });

  test("copyOut checks a single buffer's bounds and length too", () => {
    for (const [word, value] of [
      [4, 0xfffffff0],
      [5, 10],
    ] as const) {
      const q = makeLane();
      const w = postOne(q, 100);
      q.u32[w + word] = value;
      expect(q.rx.next()).toBe(100);
      expect(q.rx.copyOut()).toBeUndefined();
      expect(q.rx.stats.malformed).toBe(1);
    }
  });

  test("huge offsets and lengths do not overflow the bounds check", () => {
    const q = makeLane();
    const w = postOne(q);
    q.u32[w + 4] = 0xfffffff0;
    q.u32[w + 5] = 0x20;
    q.rx.next();
    expect(q.rx.copyTo(new Uint8Array(300), 0)).toBe(false);
  });

  test("buffers that do not add up to the size are rejected", () => {
    const q = makeLane();
    const w = postOne(q);
    q.u32[w + 7] = 10; // second buffer says 10 bytes instead of 44
    q.rx.next();
    expect(q.rx.copyTo(new Uint8Array(300), 0)).toBe(false);
    expect(q.rx.stats.malformed).toBe(1);
  });

  test("a size above the largest packet, or a count that disagrees with the length, is skipped", () => {
    for (const [word, value] of [
      [1, 100_000],
      [3, 7],
      [3, 0],
    ] as const) {
      const q = makeLane();
      const w = postOne(q);
      q.u32[w + word] = value;
      expect(q.rx.next()).toBe(-1);
      expect(q.rx.stats.malformed).toBe(1);
      // The next, well-formed packet still arrives.
      q.tx.reap();
      q.tx.enqueue(bytes(20, 1), 0, 20, 0x800);
      q.tx.commit();
      expect(receiveAll(q.rx).map(([, b]) => b)).toEqual([bytes(20, 1)]);
    }
  });

  test("completions for unknown or repeated ids are counted and ignored", () => {
    const q = makeLane(1500, 256, 16);
    postOne(q);
    receiveAll(q.rx);
    // Forge completions straight into the completion ring: one repeat, one out of range.
    const ring = (q.layout.completionBase + 128) >>> 2;
    const firstId = q.u32[ring + 1]!;
    q.u32[ring + 2] = 4;
    q.u32[ring + 3] = firstId;
    q.u32[ring + 4] = 4;
    q.u32[ring + 5] = 9999;
    Atomics.store(new Int32Array(q.buffer), (q.layout.completionBase + 64) >>> 2, 24);
    expect(q.tx.reap()).toBe(1);
    expect(q.tx.stats.badCompletions).toBe(2);
    expect(q.tx.freeBuffers).toBe(16);
  });

  test("random bytes in a whole lane never throw, and copies stay in bounds (fast-check)", () => {
    const q0 = makeLane(1500, 256, 8);
    const size = q0.layout.size;
    fc.assert(
      fc.property(fc.uint8Array({ minLength: size, maxLength: size }), (junk) => {
        const buffer = new SharedArrayBuffer(64 + size);
        new Uint8Array(buffer).set(junk, 64);
        const config = queueConfig(1500, 256, 8);
        const rx = new RxQueue(buffer, 64, config);
        const tx = new TxQueue(buffer, 64, config);
        for (let i = 0; i < 50; i++) {
          const n = rx.next();
          if (n < 0) break;
          expect(n).toBeLessThanOrEqual(1500);
          rx.copyTo(new Uint8Array(n), 0);
        }
        rx.flush();
        tx.reap();
        tx.enqueue(bytes(100, 1), 0, 100, 0);
        tx.commit();
      }),
      { numRuns: 200, seed: 11 },
    );
  });
});

describe("Notifier", () => {
  test("a sleeping consumer is woken by signal", async () => {
    const buffer = new SharedArrayBuffer(64);
    const consumer = new Notifier(buffer, 0);
    const producer = new Notifier(buffer, 0);
    const token = consumer.prepare();
    const wait = consumer.wait(token);
    expect(wait).toBeInstanceOf(Promise);
    producer.signal();
    expect(await wait).toBe("ok");
  });

  test("a signal between prepare and wait is not lost", () => {
    const buffer = new SharedArrayBuffer(64);
    const n = new Notifier(buffer, 0);
    const token = n.prepare();
    n.signal();
    expect(n.wait(token)).toBeUndefined();
  });

  test("without a waiter, signal only bumps the doorbell", () => {
    const buffer = new SharedArrayBuffer(64);
    const n = new Notifier(buffer, 0);
    n.signal();
    n.signal();
    const cells = new Int32Array(buffer);
    expect([cells[0], cells[1]]).toEqual([2, 0]);
  });

  test("over a non-shared buffer (an mmap'd region) the wait is a short timer", async () => {
    const n = new Notifier(new ArrayBuffer(64), 0, { pollMs: 1 });
    const w = n.wait(n.prepare());
    expect(w).toBeInstanceOf(Promise);
    await w;
  });
});
