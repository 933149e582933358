/**
 * HalfSipHash-2-4 with a 32-bit tag (Aumasson and Bernstein's reduced-width
 * SipHash, the `hsiphash` Linux uses for hashing with a secret): a keyed
 * pseudo-random function cheap in 32-bit JavaScript arithmetic. The one home
 * of the PRF that asks for a secret:
 * - RFC 6056 §3.3.3: the keyed hash F that picks ephemeral ports, so that
 *   off-path attackers cannot predict them (`PortManager`);
 * - RFC 6528 §3: the PRF of the 4-tuple and a secret for TCP ISNs;
 * - RFC 4987 §3.6: SYN cookies.
 * Written from the published round function; tested against the reference
 * `vectors_hsip32`. The state lives in module scope so that a hash allocates
 * nothing (no closure, no array) — JavaScript runs one hash at a time.
 */

let v0 = 0;
let v1 = 0;
let v2 = 0;
let v3 = 0;

function rotl(x: number, b: number): number {
  return (x << b) | (x >>> (32 - b));
}

function init(k0: number, k1: number): void {
  v0 = k0 | 0;
  v1 = k1 | 0;
  v2 = 0x6c796765 ^ k0;
  v3 = 0x74656462 ^ k1;
}

function sipRound(): void {
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
}

/** Two compression rounds over the little-endian message word `m`. */
function compress(m: number): void {
  v3 ^= m;
  sipRound();
  sipRound();
  v0 ^= m;
}

/** The last block (`b`: length in the top byte, trailing bytes below), four finalization rounds, the tag. */
function finish(b: number): number {
  compress(b);
  v2 ^= 0xff;
  sipRound();
  sipRound();
  sipRound();
  sipRound();
  return (v1 ^ v3) >>> 0;
}

/** HalfSipHash-2-4 of `data[0, len)` under the 64-bit key `k0, k1` (little-endian words); an unsigned 32-bit tag. */
export function halfSipHash24(data: Uint8Array, len: number, k0: number, k1: number): number {
  init(k0, k1);
  const whole = len & ~3;
  for (let i = 0; i < whole; i += 4) {
    compress(data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24));
  }
  let b = len << 24;
  const left = len & 3;
  if (left >= 3) b |= data[whole + 2]! << 16;
  if (left >= 2) b |= data[whole + 1]! << 8;
  if (left >= 1) b |= data[whole]!;
  return finish(b);
}

/**
 * HalfSipHash-2-4 keyed with `k0, k1` over 32-bit `words` (each taken as the
 * little-endian word of four message bytes): the same tag as `halfSipHash24`
 * over those `4 * words.length` bytes, without packing them.
 */
export function halfSipHash(k0: number, k1: number, words: ArrayLike<number>): number {
  init(k0, k1);
  for (let i = 0; i < words.length; i++) compress(words[i]! | 0);
  return finish((words.length * 4) << 24);
}
