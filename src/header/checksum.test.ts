import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { Address } from "../tcpip/address.ts";
import {
  checksum,
  checksumCombine,
  checksumUpdate2,
  finishChecksum,
  pseudoHeaderChecksum,
} from "./checksum.ts";
import { hex, loadFrame } from "./testing/fixtures.ts";

/** Reference: RFC 1071 §4.1 straight from the text, one word at a time. */
function reference(b: Uint8Array, initial = 0): number {
  let sum = initial;
  for (let i = 0; i + 1 < b.length; i += 2) sum += (b[i]! << 8) | b[i + 1]!;
  if (b.length & 1) sum += b[b.length - 1]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return sum;
}

describe("checksum", () => {
  test("RFC 1071 §3 example: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2", () => {
    const b = hex("0001f203f4f5f6f7");
    expect(checksum(b, 0, b.length)).toBe(0xddf2);
    expect(finishChecksum(0xddf2)).toBe(0x220d);
  });

  test("odd length pads the last byte on the right", () => {
    expect(checksum(hex("0102 03"), 0, 3)).toBe(0x0102 + 0x0300);
  });

  test("respects off and len and initial", () => {
    const b = hex("ffff 0001 0002 ffff");
    expect(checksum(b, 2, 4)).toBe(3);
    expect(checksum(b, 2, 4, 0x10)).toBe(0x13);
    expect(checksum(b, 0, 0)).toBe(0);
  });

  test("an IPv4 header captured from Linux sums to ffff", () => {
    const f = loadFrame("tcp4", 0);
    expect(checksum(f, 14, 20)).toBe(0xffff);
  });

  test("the TCP checksum of a captured SYN verifies with the pseudo-header (RFC 9293 §3.1)", () => {
    const f = loadFrame("tcp4", 0);
    const src = Address.fromBytes(f, 14 + 12, 4);
    const dst = Address.fromBytes(f, 14 + 16, 4);
    const tcpLen = f.length - 34;
    expect(checksum(f, 34, tcpLen, pseudoHeaderChecksum(6, src, dst, tcpLen))).toBe(0xffff);
  });

  test("the TCP checksum of a captured IPv6 SYN verifies with the pseudo-header (RFC 8200 §8.1)", () => {
    const f = loadFrame("tcp6", 0);
    const src = Address.fromBytes(f, 14 + 8, 16);
    const dst = Address.fromBytes(f, 14 + 24, 16);
    const len = f.length - 54;
    expect(checksum(f, 54, len, pseudoHeaderChecksum(6, src, dst, len))).toBe(0xffff);
  });

  test("the pseudo-header length above 16 bits adds its high word (IPv6 jumbo, RFC 8200 §8.1)", () => {
    const a = Address.parse("fd00::1");
    const low = pseudoHeaderChecksum(17, a, a, 0x10);
    expect(pseudoHeaderChecksum(17, a, a, 0x10010)).toBe(checksumCombine(low, 1));
  });

  test("matches the word-by-word reference for random buffers", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 3000 }), fc.integer({ min: 0, max: 0xffff }), (b, init) => {
        expect(checksum(b, 0, b.length, init)).toBe(reference(b, init));
      }),
    );
  });

  test("matches the reference at every alignment of buffer, view and offset (word fast path)", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 0, maxLength: 700 }),
        fc.integer({ min: 0, max: 7 }),
        fc.integer({ min: 0, max: 7 }),
        fc.integer({ min: 0, max: 0xffff }),
        (bytes, viewOff, off, init) => {
          const backing = new Uint8Array(bytes.length + 16);
          const view = backing.subarray(viewOff);
          view.set(bytes);
          const len = Math.max(0, bytes.length - off);
          expect(checksum(view, off, len, init)).toBe(reference(view.subarray(off, off + len), init));
        },
      ),
    );
  });

  test("switching between buffers refreshes the cached word view", () => {
    const a = new Uint8Array(256).fill(1);
    const b = new Uint8Array(256).fill(2);
    expect(checksum(a, 0, 256)).toBe(reference(a));
    expect(checksum(b, 0, 256)).toBe(reference(b));
    expect(checksum(a, 0, 256)).toBe(reference(a));
  });

  test("a sum of large all-ones buffers stays exact (64 KiB)", () => {
    const b = new Uint8Array(65536).fill(0xff);
    expect(checksum(b, 0, b.length)).toBe(reference(b));
    const c = new Uint8Array(65535).fill(0xfe);
    expect(checksum(c, 0, c.length)).toBe(reference(c));
  });

  test("the word accumulators fold before leaving exact doubles (8 MiB of high words, odd tail)", () => {
    // 2^21 words of 0xffffffff would pass 2^53 without the fold inside the loop.
    const b = new Uint8Array((8 << 20) + 3).fill(0xff);
    b[b.length - 1] = 0x12;
    expect(checksum(b, 0, b.length)).toBe(reference(b));
    expect(checksum(b, 2, b.length - 2, 0xfffe)).toBe(reference(b.subarray(2), 0xfffe));
  });

  test("checksumCombine equals summing the concatenation (RFC 1071 §2(C))", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.uint8Array({ maxLength: 200 }), (a, b) => {
        const even = a.length & 1 ? Uint8Array.of(...a, 0) : a;
        const both = new Uint8Array(even.length + b.length);
        both.set(even);
        both.set(b, even.length);
        expect(checksumCombine(checksum(even, 0, even.length), checksum(b, 0, b.length))).toBe(
          reference(both),
        );
      }),
    );
  });

  test("checksumUpdate2 matches recomputing after one word changes (RFC 1624 eqn. 3)", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 20, maxLength: 20 }),
        fc.integer({ min: 0, max: 9 }),
        fc.integer({ min: 0, max: 0xffff }),
        (b, w, nv) => {
          b[10] = 0;
          b[11] = 0;
          const hc = finishChecksum(checksum(b, 0, 20));
          b[10] = hc >> 8;
          b[11] = hc & 0xff;
          if (w === 5) return; // the checksum word itself
          const old = (b[2 * w]! << 8) | b[2 * w + 1]!;
          b[2 * w] = nv >> 8;
          b[2 * w + 1] = nv & 0xff;
          const upd = checksumUpdate2(hc, old, nv);
          b[10] = upd >> 8;
          b[11] = upd & 0xff;
          // RFC 1624 §3: the updated header must still verify.
          expect(checksum(b, 0, 20)).toBe(0xffff);
        },
      ),
    );
  });

  test("checksumUpdate2 on a TTL decrement of a captured header", () => {
    const f = loadFrame("tcp4", 0);
    const ttlProto = (f[14 + 8]! << 8) | f[14 + 9]!;
    const old = (f[14 + 10]! << 8) | f[14 + 11]!;
    f[14 + 8] = f[14 + 8]! - 1;
    const nv = checksumUpdate2(old, ttlProto, ttlProto - 0x100);
    f[14 + 10] = nv >> 8;
    f[14 + 11] = nv & 0xff;
    expect(checksum(f, 14, 20)).toBe(0xffff);
  });
});
