import { jscDescribe } from "bun:jsc";
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { SeededRandom } from "../tcpip/random.ts";
import { VectorisedView } from "./vectorised-view.ts";

const b = (...xs: number[]) => Uint8Array.from(xs);
const flat = (v: VectorisedView) => Array.from(v.toBytes());

describe("VectorisedView", () => {
  test("size counts every chunk; empty chunks are dropped", () => {
    const v = new VectorisedView([b(1, 2), b(), b(3)]);
    expect(v.size).toBe(3);
    expect(v.views.length).toBe(2);
    v.append(b());
    v.append(b(4, 5));
    expect(v.size).toBe(5);
    expect(flat(v)).toEqual([1, 2, 3, 4, 5]);
    expect(new VectorisedView().size).toBe(0);
    expect(new VectorisedView().first()).toBeUndefined();
    expect(new VectorisedView().toBytes().length).toBe(0);
  });

  test("chunks are referenced, not copied", () => {
    const c = b(1, 2, 3);
    const v = new VectorisedView([c]);
    expect(v.toBytes()).toBe(c);
    expect(v.first()).toBe(c);
    c[0] = 9;
    expect(v.slice(0, 1)[0]).toBe(9);
  });

  test("trimFront removes bytes across chunk boundaries", () => {
    const v = new VectorisedView([b(1, 2), b(3, 4, 5), b(6)]);
    v.trimFront(3);
    expect(flat(v)).toEqual([4, 5, 6]);
    expect(v.size).toBe(3);
    v.trimFront(2);
    expect(flat(v)).toEqual([6]);
    v.trimFront(10);
    expect(v.size).toBe(0);
    expect(v.views.length).toBe(0);
    v.trimFront(1);
    expect(v.size).toBe(0);
  });

  test("capLength keeps the first n bytes", () => {
    const v = new VectorisedView([b(1, 2), b(3, 4, 5), b(6)]);
    v.capLength(10);
    expect(v.size).toBe(6);
    v.capLength(3);
    expect(flat(v)).toEqual([1, 2, 3]);
    expect(v.views.length).toBe(2);
    v.capLength(2);
    expect(flat(v)).toEqual([1, 2]);
    expect(v.views.length).toBe(1);
    v.capLength(0);
    expect(v.size).toBe(0);
  });

  test("clone shares bytes but not the chunk list", () => {
    const v = new VectorisedView([b(1), b(2)]);
    const c = v.clone();
    c.trimFront(1);
    c.append(b(3));
    expect(flat(v)).toEqual([1, 2]);
    expect(flat(c)).toEqual([2, 3]);
    expect(c.views[0]).toBe(v.views[1]);
  });

  test("copyTo copies from an offset, up to the destination's length", () => {
    const v = new VectorisedView([b(1, 2), b(3, 4, 5), b(6)]);
    const dst = new Uint8Array(3);
    expect(v.copyTo(dst, 1)).toBe(3);
    expect(Array.from(dst)).toEqual([2, 3, 4]);
    const big = new Uint8Array(10);
    expect(v.copyTo(big, 4)).toBe(2);
    expect(Array.from(big.subarray(0, 2))).toEqual([5, 6]);
    expect(v.copyTo(big, 6)).toBe(0);
    expect(v.copyTo(new Uint8Array(0))).toBe(0);
  });

  test("slice is a view inside one chunk and one copy across chunks, clipped at the end", () => {
    const c1 = b(1, 2);
    const c2 = b(3, 4, 5);
    const v = new VectorisedView([c1, c2]);
    const inside = v.slice(2, 2);
    expect(Array.from(inside)).toEqual([3, 4]);
    expect(inside.buffer).toBe(c2.buffer);
    const across = v.slice(1, 3);
    expect(Array.from(across)).toEqual([2, 3, 4]);
    expect(across.buffer).not.toBe(c1.buffer);
    expect(Array.from(v.slice(3, 10))).toEqual([4, 5]);
    expect(v.slice(5, 1).length).toBe(0);
    expect(v.slice(9, 1).length).toBe(0);
  });

  test("agrees with a flat array under random operations (fast-check)", () => {
    const chunks = fc.array(fc.uint8Array({ maxLength: 6 }), { maxLength: 6 });
    const op = fc.oneof(
      fc.record({ k: fc.constant("trim" as const), n: fc.nat(12) }),
      fc.record({ k: fc.constant("cap" as const), n: fc.nat(12) }),
      fc.record({ k: fc.constant("append" as const), c: fc.uint8Array({ maxLength: 5 }) }),
    );
    fc.assert(
      fc.property(chunks, fc.array(op, { maxLength: 10 }), fc.nat(20), fc.nat(20), (cs, ops, from, len) => {
        const v = new VectorisedView(cs);
        let model = cs.flatMap((c) => Array.from(c));
        for (const o of ops) {
          if (o.k === "trim") {
            v.trimFront(o.n);
            model = model.slice(Math.min(o.n, model.length));
          } else if (o.k === "cap") {
            v.capLength(o.n);
            model = model.slice(0, o.n);
          } else {
            v.append(o.c);
            model.push(...o.c);
          }
          expect(v.size).toBe(model.length);
        }
        expect(flat(v)).toEqual(model);
        expect(Array.from(v.slice(from, len))).toEqual(model.slice(from, from + len));
        const dst = new Uint8Array(len);
        const n = v.copyTo(dst, from);
        expect(Array.from(dst.subarray(0, n))).toEqual(model.slice(from, from + len));
      }),
    );
  });
});

describe("VectorisedView.appendContiguous", () => {
  test("merges a chunk that continues the last one in the same buffer; others stay separate", () => {
    const backing = Uint8Array.from({ length: 10 }, (_, i) => i);
    const v = new VectorisedView();
    v.appendContiguous(backing.subarray(0, 3));
    v.appendContiguous(backing.subarray(3, 5));
    expect(v.views.length).toBe(1);
    expect(v.size).toBe(5);
    v.appendContiguous(backing.subarray(6, 8)); // a gap: not contiguous
    v.appendContiguous(Uint8Array.of(99)); // another buffer
    v.appendContiguous(new Uint8Array(0));
    expect(v.views.length).toBe(3);
    expect([...v.toBytes()]).toEqual([0, 1, 2, 3, 4, 6, 7, 99]);
    // The merged chunk is a view of the backing array: slicing within it copies nothing.
    expect(v.slice(1, 3).buffer).toBe(backing.buffer);
  });
});

describe("VectorisedView.appendRange", () => {
  test("appends bytes of an array by range, merged as appendContiguous merges", () => {
    const backing = Uint8Array.from({ length: 10 }, (_, i) => i);
    const v = new VectorisedView();
    v.appendRange(backing, 0, 3);
    v.appendRange(backing, 3, 2);
    expect(v.views.length).toBe(1);
    expect(v.size).toBe(5);
    v.appendRange(backing, 6, 2); // a gap: not contiguous
    v.appendRange(Uint8Array.of(99), 0, 1); // another buffer
    v.appendRange(backing, 8, 0);
    expect(v.views.length).toBe(3);
    expect([...v.toBytes()]).toEqual([0, 1, 2, 3, 4, 6, 7, 99]);
    expect(v.slice(1, 3).buffer).toBe(backing.buffer);
  });

  test("a range of a view continues a chunk that began before the view", () => {
    const backing = Uint8Array.from({ length: 10 }, (_, i) => i);
    const v = new VectorisedView();
    v.appendRange(backing, 1, 3);
    v.appendRange(backing.subarray(4), 0, 2);
    expect(v.views.length).toBe(1);
    expect([...v.toBytes()]).toEqual([1, 2, 3, 4, 5]);
  });
});

describe("VectorisedView.copyTo at an offset", () => {
  test("copies `len` bytes from `from` into dst at dstOff, across chunks, whole chunks included", () => {
    const v = new VectorisedView([b(1, 2, 3), b(4, 5), b(6, 7, 8, 9)]);
    const dst = new Uint8Array(10);
    expect(v.copyTo(dst, 1, 3, 6)).toBe(6);
    expect([...dst]).toEqual([0, 0, 0, 2, 3, 4, 5, 6, 7, 0]);
    expect(v.copyTo(dst, 7, 0)).toBe(2); // to the end of the view
    expect([...dst.subarray(0, 3)]).toEqual([8, 9, 0]);
  });
});

test("copyTo stays right across its scan hint: later, earlier and overlapping ranges, after trimFront", () => {
  // A send queue of many small chunks, read like TCP does: segment after segment, then a
  // retransmission from the front, with acknowledged bytes trimmed in between.
  let ref: number[] = [];
  const v = new VectorisedView();
  let next = 0;
  for (let c = 0; c < 200; c++) {
    const chunk = new Uint8Array(1 + ((c * 37) % 90));
    for (let i = 0; i < chunk.length; i++) chunk[i] = next++ & 0xff;
    v.append(chunk);
    ref.push(...chunk);
  }
  const check = (from: number, len: number): void => {
    const out = new Uint8Array(len);
    expect(v.copyTo(out, from, 0, len)).toBe(Math.min(len, ref.length - from));
    expect([...out.subarray(0, Math.min(len, ref.length - from))]).toEqual(ref.slice(from, from + len));
  };
  for (let round = 0; round < 6; round++) {
    for (let from = 0; from + 50 <= ref.length; from += 50) check(from, 50);
    check(0, 30);
    check(Math.floor(ref.length / 2), 75);
    check(3, 1);
    const trim = 17 + round * 211;
    v.trimFront(trim);
    ref = ref.slice(trim);
    check(0, 40);
    check(Math.floor(ref.length / 3), 120);
  }
});

test("a queue of thousands of chunks trimmed from the front stays right through compaction, and its array stays contiguous", () => {
  // Like a TCP send queue: small writes appended, acknowledged bytes trimmed, segments copied out.
  let ref: number[] = [];
  const v = new VectorisedView();
  const rnd = new SeededRandom(11);
  let next = 0;
  for (let step = 0; step < 3000; step++) {
    const chunk = new Uint8Array(1 + (rnd.u32() % 40));
    for (let i = 0; i < chunk.length; i++) chunk[i] = next++ & 0xff;
    v.append(chunk);
    ref.push(...chunk);
    if (step % 3 === 2) {
      const n = rnd.u32() % 90;
      v.trimFront(n);
      ref = ref.slice(Math.min(n, ref.length));
    }
    if (step % 97 === 0 && ref.length > 0) {
      const from = rnd.u32() % ref.length;
      const out = new Uint8Array(60);
      const k = v.copyTo(out, from);
      expect([...out.subarray(0, k)]).toEqual(ref.slice(from, from + 60));
      expect(v.first()![0]).toBe(ref[0]!);
    }
  }
  expect(v.size).toBe(ref.length);
  expect(flat(v)).toEqual(ref);
  expect(v.views.reduce((n, c) => n + c.length, 0)).toBe(ref.length);
  // `shift()` on a long array would have turned it into ArrayStorage (see `head` in vectorised-view.ts).
  const chunks = (v as unknown as { chunks: Uint8Array[] }).chunks;
  expect(jscDescribe(chunks)).toContain("ArrayWithContiguous");
  v.trimFront(v.size);
  expect(v.size).toBe(0);
  expect(v.first()).toBeUndefined();
});
