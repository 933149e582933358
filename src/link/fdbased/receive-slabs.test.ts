import { describe, expect, test } from "bun:test";
import { ReceiveSlabs } from "./receive-slabs.ts";

/** Reads `n` bytes at a time into the current slab until it is replaced or rewound (the next read starts at 0). */
function fill(s: ReceiveSlabs, n: number): void {
  s.current();
  do s.advance(n);
  while (s.current() && s.readOffset !== 0);
}

describe("ReceiveSlabs", () => {
  test("reads go back to back, 8-byte aligned; a full slab nothing holds is rewound", () => {
    const s = new ReceiveSlabs(1024, 256);
    const first = s.current();
    s.advance(100);
    expect(s.readOffset).toBe(104);
    fill(s, 100);
    expect(s.current()).toBe(first);
    expect(s.readOffset).toBe(0);
    expect(s.allocated).toBe(1);
  });

  test("a held slab is retired; it comes back once released instead of a new allocation", () => {
    const s = new ReceiveSlabs(1024, 256);
    const a = s.current();
    a.hold();
    fill(s, 200);
    const b = s.current();
    expect(b).not.toBe(a);
    expect(s.allocated).toBe(2);
    b.hold();
    a.release();
    fill(s, 200);
    expect(s.current()).toBe(a);
    expect(s.allocated).toBe(2);
  });

  test("at most 8 held slabs wait for release; older ones are left to the garbage collector", () => {
    const s = new ReceiveSlabs(1024, 256);
    const held = [];
    for (let i = 0; i < 12; i++) {
      const slab = s.current();
      slab.hold();
      held.push(slab);
      fill(s, 200);
    }
    expect(s.allocated).toBe(13);
    // The first four fell out of the retired list: released now, they are not taken again.
    for (const slab of held.slice(0, 4)) slab.release();
    s.current().hold();
    fill(s, 200);
    expect(s.allocated).toBe(14);
    // That pushed out held[4] too; one that is still listed is taken again once released.
    held[5]!.release();
    s.current().hold();
    fill(s, 200);
    expect(s.current()).toBe(held[5]!);
    expect(s.allocated).toBe(14);
  });

  test("a slab smaller than the largest read is refused", () => {
    expect(() => new ReceiveSlabs(100, 200)).toThrow(RangeError);
  });
});
