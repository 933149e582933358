/** ReceiveState's in-order queue (issue 10): segments copied into shared backing arrays, reads as views. */
import { describe, expect, test } from "bun:test";
import type { BufferLease } from "../../buffer/packet-buffer.ts";
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

/** A lease that counts (`PacketBuffer.lease`): what a link sees of the layer that keeps its bytes. */
function countingLease(): BufferLease & { holds: number; releases: number } {
  return {
    holds: 0,
    releases: 0,
    hold() {
      this.holds++;
    },
    release() {
      this.releases++;
    },
  };
}

describe("ReceiveState with readInto and link leases (issue 10: receive memory reused)", () => {
  test("readInto copies exactly what read would return, across segments and read sizes", () => {
    const r = new ReceiveState(1 << 20);
    r.init(0);
    const sizes = [1448, 100, 65_000, 1, 600, 70_000, 1448];
    let sent = 0;
    for (const n of sizes) {
      r.accept(r.nxt, pattern(n, sent), false);
      sent += n;
    }
    const got: number[] = [];
    for (const size of [1, 3000, 10, 1 << 17, 100_000]) {
      const dst = new Uint8Array(size);
      const k = r.readInto(dst);
      got.push(...dst.subarray(0, k));
    }
    expect(got.length).toBe(sent);
    expect(got.every((b, i) => b === (i & 0xff))).toBe(true);
    expect(r.readInto(new Uint8Array(10))).toBe(0);
  });

  test("a large keepable segment is queued as the link's bytes under a hold; readInto releases it once read past", () => {
    const r = new ReceiveState(1 << 20);
    r.init(0);
    const lease = countingLease();
    const seg = pattern(32_768, 0);
    r.accept(r.nxt, seg, false, true, lease);
    expect(lease.holds).toBe(1);
    expect(r.queue.first()!.buffer).toBe(seg.buffer); // no copy
    const dst = new Uint8Array(20_000);
    r.readInto(dst);
    expect(lease.releases).toBe(0); // 12,768 bytes of it still queued
    r.readInto(dst);
    expect(lease.releases).toBe(1);
    expect(pattern(12_768, 20_000)).toEqual(dst.subarray(0, 12_768));
  });

  test("a segment that went to a reader as a view is never released (the reader may keep it)", () => {
    const r = new ReceiveState(1 << 20);
    r.init(0);
    const a = countingLease();
    const b = countingLease();
    r.accept(r.nxt, pattern(32_768, 0), false, true, a);
    r.accept(r.nxt, pattern(32_768, 32_768), false, true, b);
    expect(r.read(100).length).toBe(100); // a view of the first segment
    r.readInto(new Uint8Array(1 << 17));
    expect(a.releases).toBe(0);
    expect(b.releases).toBe(1);
  });

  test("text dropped unread (reading shut down) releases its holds; a reset keeps what is still readable held", () => {
    const r = new ReceiveState(1 << 20);
    r.init(0);
    const a = countingLease();
    r.accept(r.nxt, pattern(32_768, 0), false, true, a);
    r.dropQueued();
    expect(r.queue.size).toBe(0);
    expect(a.releases).toBe(1);
    const b = countingLease();
    r.accept(r.nxt, pattern(32_768, 0), false, true, b);
    r.clear();
    expect(b.releases).toBe(0);
    expect(r.read(1 << 20)).toEqual(pattern(32_768, 0));
  });

  test("the receive array is rewound once readInto emptied it, but not after a view of it went to a reader", () => {
    const r = new ReceiveState(1 << 20);
    r.init(0);
    const tail = () => (r as unknown as { tail: Uint8Array | undefined }).tail;
    r.accept(r.nxt, pattern(1448, 0), false);
    const arr = tail()!;
    r.readInto(new Uint8Array(4096));
    r.accept(r.nxt, pattern(1448, 1448), false);
    // Same array, written again from its start: no new memory per received byte.
    expect(tail()).toBe(arr);
    expect(r.queue.first()!.byteOffset).toBe(arr.byteOffset);
    const view = r.read(4096);
    expect(view).toEqual(pattern(1448, 1448));
    r.accept(r.nxt, pattern(1448, 2896), false);
    // The reader holds `view`: the next segment goes after it, and `view` keeps its bytes.
    expect(r.queue.first()!.byteOffset).toBe(arr.byteOffset + 1448);
    r.readInto(new Uint8Array(4096));
    r.accept(r.nxt, pattern(1448, 4344), false);
    expect(view).toEqual(pattern(1448, 1448));
  });
});
