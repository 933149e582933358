import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { ReceiveQueue } from "./receive-queue.ts";

describe("ReceiveQueue", () => {
  test("items come out in the order they went in, with bytes and length tracked", () => {
    const q = new ReceiveQueue<string>(1000);
    expect(q.push("a", 10)).toBe(true);
    expect(q.push("b", 20)).toBe(true);
    expect(q.length).toBe(2);
    expect(q.bytes).toBe(30);
    expect(q.peek()).toBe("a");
    expect(q.peekSize()).toBe(10);
    expect(q.shift()).toBe("a");
    expect(q.bytes).toBe(20);
    expect(q.shift()).toBe("b");
    expect(q.length).toBe(0);
    expect(q.bytes).toBe(0);
  });

  test("an empty queue gives undefined", () => {
    const q = new ReceiveQueue<number>(10);
    expect(q.shift()).toBeUndefined();
    expect(q.peek()).toBeUndefined();
    expect(q.peekSize()).toBe(0);
  });

  test("refuses a push once bytes reach the limit; the caller counts the drop", () => {
    const q = new ReceiveQueue<number>(100);
    expect(q.push(1, 60)).toBe(true);
    expect(q.full).toBe(false);
    // Under the limit, an item is accepted even if it overshoots (Linux/gVisor semantics).
    expect(q.push(2, 60)).toBe(true);
    expect(q.full).toBe(true);
    expect(q.push(3, 1)).toBe(false);
    expect(q.length).toBe(2);
    expect(q.bytes).toBe(120);
    q.shift();
    expect(q.push(3, 1)).toBe(true);
  });

  test("one datagram larger than the whole buffer still reaches an empty queue", () => {
    const q = new ReceiveQueue<string>(1024);
    expect(q.push("jumbo", 65507)).toBe(true);
    expect(q.push("next", 1)).toBe(false);
  });

  test("a limit of 0 refuses everything", () => {
    const q = new ReceiveQueue<string>(0);
    expect(q.push("x", 1)).toBe(false);
    expect(q.length).toBe(0);
  });

  test("the limit can change while items are queued", () => {
    const q = new ReceiveQueue<number>(10);
    q.push(1, 10);
    expect(q.push(2, 1)).toBe(false);
    q.limitBytes = 100;
    expect(q.push(2, 1)).toBe(true);
    q.limitBytes = 5;
    expect(q.length).toBe(2);
    expect(q.push(3, 1)).toBe(false);
  });

  test("clear drops everything and the queue stays usable", () => {
    const q = new ReceiveQueue<number>(1000);
    for (let i = 0; i < 20; i++) q.push(i, 1);
    q.clear();
    expect(q.length).toBe(0);
    expect(q.bytes).toBe(0);
    expect(q.shift()).toBeUndefined();
    q.push(42, 3);
    expect(q.toArray()).toEqual([42]);
  });

  test("keeps order across growth while the ring has wrapped", () => {
    const q = new ReceiveQueue<number>(1e9);
    let next = 0;
    let expectNext = 0;
    // Keep the ring partly full so head moves around before each growth.
    for (let round = 0; round < 10; round++) {
      for (let i = 0; i < 7 + round * 3; i++) q.push(next++, 1);
      for (let i = 0; i < 5; i++) expect(q.shift()).toBe(expectNext++);
    }
    expect(q.toArray()).toEqual(Array.from({ length: next - expectNext }, (_, i) => expectNext + i));
  });

  test("100k items in and out stay O(1) each (no Array.shift)", () => {
    const q = new ReceiveQueue<number>(Number.POSITIVE_INFINITY);
    for (let i = 0; i < 100_000; i++) q.push(i, 1);
    let sum = 0;
    for (let i = 0; i < 100_000; i++) sum += q.shift()!;
    expect(sum).toBe((99_999 * 100_000) / 2);
    expect(q.length).toBe(0);
  });

  test("behaves like a plain array with a byte budget (model check)", () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant("push" as const), size: fc.integer({ min: 0, max: 50 }) }),
      fc.record({ kind: fc.constant("shift" as const) }),
      fc.record({ kind: fc.constant("clear" as const) }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 300 }), fc.array(op, { maxLength: 200 }), (limit, ops) => {
        const q = new ReceiveQueue<number>(limit);
        const model: { v: number; size: number }[] = [];
        let id = 0;
        for (const o of ops) {
          if (o.kind === "push") {
            const used = model.reduce((n, x) => n + x.size, 0);
            const ok = used < limit;
            expect(q.push(id, o.size)).toBe(ok);
            if (ok) model.push({ v: id, size: o.size });
            id++;
          } else if (o.kind === "shift") {
            expect(q.shift()).toBe(model.shift()?.v);
          } else {
            q.clear();
            model.length = 0;
          }
          expect(q.length).toBe(model.length);
          expect(q.bytes).toBe(model.reduce((n, x) => n + x.size, 0));
          expect(q.peek()).toBe(model[0]?.v);
          expect(q.peekSize()).toBe(model[0]?.size ?? 0);
        }
        expect(q.toArray()).toEqual(model.map((x) => x.v));
      }),
    );
  });
});
