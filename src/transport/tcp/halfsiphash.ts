/**
 * HalfSipHash-2-4 over 32-bit words: a keyed pseudo-random function cheap in
 * 32-bit JavaScript arithmetic. RFC 6528 §3 asks for a PRF of the 4-tuple and a
 * secret for ISNs, and RFC 4987 §3.6 for SYN cookies; both use this one.
 */

function rotl(x: number, b: number): number {
  return (x << b) | (x >>> (32 - b));
}

/** A PRF keyed with `key` (two 32-bit words) over `words` (32-bit words). */
export function halfSipHash(k0: number, k1: number, words: ArrayLike<number>): number {
  let v0 = k0 | 0;
  let v1 = k1 | 0;
  let v2 = 0x6c796765 ^ k0;
  let v3 = 0x74656462 ^ k1;
  const round = () => {
    v0 = (v0 + v1) | 0;
    v1 = rotl(v1, 5) ^ v0;
    v0 = rotl(v0, 16);
    v2 = (v2 + v3) | 0;
    v3 = rotl(v3, 8) ^ v2;
    v0 = (v0 + v3) | 0;
    v3 = rotl(v3, 7) ^ v0;
    v2 = (v2 + v1) | 0;
    v1 = rotl(v1, 13) ^ v2;
    v2 = rotl(v2, 16);
  };
  for (let i = 0; i < words.length; i++) {
    const m = words[i]! | 0;
    v3 ^= m;
    round();
    round();
    v0 ^= m;
  }
  const b = (words.length * 4) << 24;
  v3 ^= b;
  round();
  round();
  v0 ^= b;
  v2 ^= 0xff;
  round();
  round();
  round();
  round();
  return (v1 ^ v3) >>> 0;
}
