import { expect, test } from "bun:test";
import fc from "fast-check";
import { halfSipHash, halfSipHash24 } from "./halfsiphash.ts";

// The reference implementation's vectors_hsip32: key 00 01 .. 07, message 00 01 .. (n-1), tag bytes little-endian.
const VECTORS: [len: number, tag: number[]][] = [
  [0, [0xa9, 0x35, 0x9f, 0x5b]],
  [1, [0x27, 0x47, 0x5a, 0xb8]],
  [2, [0xfa, 0x62, 0xa6, 0x03]],
  [3, [0x8a, 0xfe, 0xe7, 0x04]],
  [4, [0x2a, 0x6e, 0x46, 0x89]],
  [5, [0xc5, 0xfa, 0xb6, 0x69]],
  [7, [0x8b, 0xcf, 0x63, 0xc5]],
  [8, [0xd0, 0xb8, 0x84, 0x8f]],
  [15, [0x74, 0xfe, 0x2b, 0x97]],
  [16, [0xd9, 0xb5, 0xac, 0x84]],
  [63, [0x59, 0xea, 0x4a, 0x74]],
];

test("HalfSipHash-2-4 matches the reference 32-bit test vectors", () => {
  const msg = Uint8Array.from({ length: 64 }, (_, i) => i);
  const k0 = 0x03020100;
  const k1 = 0x07060504;
  for (const [len, tag] of VECTORS) {
    const want = (tag[0]! | (tag[1]! << 8) | (tag[2]! << 16) | (tag[3]! << 24)) >>> 0;
    expect(halfSipHash24(msg, len, k0, k1)).toBe(want);
  }
});

test("the word form gives the byte form's tag over the same little-endian bytes (fast-check)", () => {
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 0, max: 0xffffffff }), { maxLength: 12 }),
      fc.integer(),
      fc.integer(),
      (words, k0, k1) => {
        const bytes = new Uint8Array(words.length * 4);
        const dv = new DataView(bytes.buffer);
        for (let i = 0; i < words.length; i++) dv.setUint32(i * 4, words[i]!, true);
        expect(halfSipHash(k0, k1, words)).toBe(halfSipHash24(bytes, bytes.length, k0, k1));
      },
    ),
  );
});

test("the word form matches the reference vectors where the message is whole words", () => {
  const k0 = 0x03020100;
  const k1 = 0x07060504;
  // vectors_hsip32 for 4 and 8 bytes 00 01 02 ..: 0x89466e2a, 0x8f84b8d0.
  expect(halfSipHash(k0, k1, [0x03020100])).toBe(0x89466e2a);
  expect(halfSipHash(k0, k1, [0x03020100, 0x07060504])).toBe(0x8f84b8d0);
  expect(halfSipHash(k0, k1, [])).toBe(0x5b9f35a9);
});
