/**
 * HalfSipHash-2-4 with a 32-bit tag (Aumasson and Bernstein's reduced-width
 * SipHash, the `hsiphash` Linux uses for hashing with a secret). RFC 6056
 * §3.3.3 asks for a keyed hash F so that off-path attackers cannot predict
 * which ephemeral port a connection gets; this is that F. Written from the
 * published round function; tested against the reference `vectors_hsip32`.
 */

function rotl(x: number, b: number): number {
  return (x << b) | (x >>> (32 - b));
}

/** HalfSipHash-2-4 of `data[0, len)` under the 64-bit key `k0, k1` (little-endian words); an unsigned 32-bit tag. */
export function halfSipHash24(data: Uint8Array, len: number, k0: number, k1: number): number {
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

  const whole = len & ~3;
  for (let i = 0; i < whole; i += 4) {
    const m = data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24);
    v3 ^= m;
    round();
    round();
    v0 ^= m;
  }
  let b = len << 24;
  const left = len & 3;
  if (left >= 3) b |= data[whole + 2]! << 16;
  if (left >= 2) b |= data[whole + 1]! << 8;
  if (left >= 1) b |= data[whole]!;
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
