/** ReceiveState's in-order queue (issue 10): segments copied into shared backing arrays, reads as views. */
import { describe, expect, test } from "bun:test";
import { seqAdd } from "../../seqnum/seqnum.ts";
import { ReceiveState } from "./rcv.ts";

function pattern(n: number, start: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (start + i) & 0xff);
}

describe("ReceiveState queue", () => {
  test("bytes read back equal bytes accepted, whatever the segment and read sizes", () => {
    const r = new ReceiveState(1 << 20);
    r.init(1000);
    const sizes = [1448, 1448, 100, 65_000, 1, 600, 1448, 70_000, 5, 1448];
    const reads = [3000, 1, 70_000, 10, 100_000, 1 << 20];
    let sent = 0;
    const got: number[] = [];
    let ri = 0;
    for (const n of sizes) {
      const seg = pattern(n, sent);
      r.accept(r.nxt, seg, false);
      seg.fill(0xee); // the caller's (the link's) buffer may be reused at once
      sent += n;
      const out = r.read(reads[ri++ % reads.length]!);
      got.push(...out);
    }
    for (let out = r.read(1 << 20); out.length > 0; out = r.read(1 << 20)) got.push(...out);
    expect(got.length).toBe(sent);
    expect(got.every((b, i) => b === (i & 0xff))).toBe(true);
    expect(r.nxt).toBe(seqAdd(1001, sent));
  });

  test("full segments share one array: a read across them is a view, and later segments do not change it", () => {
    const r = new ReceiveState(1 << 20);
    r.init(0);
    r.accept(r.nxt, pattern(1448, 0), false);
    r.accept(r.nxt, pattern(1448, 1448), false);
    r.accept(r.nxt, pattern(1448, 2896), false);
    expect(r.queue.views.length).toBe(1);
    const out = r.read(4000);
    expect(out.length).toBe(4000);
    const copy = out.slice();
    r.accept(r.nxt, pattern(1448, 4344), false);
    expect(out).toEqual(copy);
    expect(r.read(10_000)).toEqual(pattern(1792, 4000));
  });

  test("small segments get exact copies (an idle connection holds no 64 KiB array)", () => {
    const r = new ReceiveState(1 << 20);
    r.init(0);
    r.accept(r.nxt, pattern(10, 0), false);
    expect(r.queue.first()!.buffer.byteLength).toBe(10);
    expect(r.read(100)).toEqual(pattern(10, 0));
  });

  test("a read returns a large first chunk alone, as a view; small chunks are joined into one copy", () => {
    const r = new ReceiveState(1 << 20);
    r.init(0);
    r.accept(r.nxt, pattern(60_000, 0), false); // a GRO super-segment: its own exact copy
    r.accept(r.nxt, pattern(60_000, 60_000), false);
    expect(r.queue.views.length).toBe(2);
    const a = r.read(65_536);
    expect(a.length).toBe(60_000);
    expect(a.buffer.byteLength).toBe(60_000); // the queued copy itself, not a second one
    expect(a).toEqual(pattern(60_000, 0));
    expect(r.read(65_536)).toEqual(pattern(60_000, 60_000));
    for (let i = 0; i < 3; i++) r.accept(r.nxt, pattern(100, i * 100), false);
    expect(r.queue.views.length).toBe(3);
    expect(r.read(1000)).toEqual(pattern(300, 0));
  });

  test("the receive array is let go at the peer's FIN; the queued bytes stay readable", () => {
    const r = new ReceiveState(1 << 20);
    r.init(0);
    const tail = () => (r as unknown as { tail: Uint8Array | undefined }).tail;
    r.accept(r.nxt, pattern(1448, 0), false);
    expect(tail()).toBeDefined();
    r.accept(r.nxt, pattern(1448, 1448), true);
    expect(r.finReceived).toBe(true);
    expect(tail()).toBeUndefined();
    expect(r.read(10_000)).toEqual(pattern(2896, 0));
  });
});
