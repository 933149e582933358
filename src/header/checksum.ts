/**
 * The Internet checksum: the 16-bit one's-complement of the one's-complement
 * sum of 16-bit words (RFC 1071), with the pseudo-headers of RFC 9293 §3.1
 * (IPv4) and RFC 8200 §8.1 (IPv6), and incremental update per RFC 1624.
 *
 * All functions return plain numbers and allocate nothing.
 */
import type { Address } from "../tcpip/address.ts";

/** Folds a 32-bit-or-wider partial sum to 16 bits (RFC 1071 §4.1 "fold 32-bit sum to 16 bits"). */
function fold(sum: number): number {
  // A JS number holds 53 bits; two folds bring any sum we build below 2^17, a third below 2^16.
  sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  sum = (sum & 0xffff) + (sum >>> 16);
  sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

/**
 * The folded 16-bit one's-complement sum of `len` bytes at `off`, added to
 * `initial` (not inverted). An odd trailing byte is padded with zero on the
 * right (RFC 1071 §4.1). The sum is independent of byte order (RFC 1071 §2(B)),
 * so words are read big-endian as they appear on the wire.
 */
export function checksum(b: Uint8Array, off: number, len: number, initial = 0): number {
  let sum = initial;
  let i = off;
  const end = off + len;
  // Unrolled by 8 bytes: 4 words per iteration. Each word is < 2^16, so the
  // accumulator stays exact for buffers far beyond 64 KiB before folding.
  const end8 = end - 7;
  while (i < end8) {
    sum +=
      ((b[i]! << 8) | b[i + 1]!) +
      ((b[i + 2]! << 8) | b[i + 3]!) +
      ((b[i + 4]! << 8) | b[i + 5]!) +
      ((b[i + 6]! << 8) | b[i + 7]!);
    i += 8;
    // Keep the sum a small integer (V8/JSC "small integer" fast path); fold every 2^16 iterations would
    // also be exact, but folding here is cheap and avoids doubles entirely.
    if (sum > 0x3fffffff) sum = (sum & 0xffff) + (sum >>> 16);
  }
  while (i + 1 < end) {
    sum += (b[i]! << 8) | b[i + 1]!;
    i += 2;
  }
  if (i < end) sum += b[i]! << 8;
  return fold(sum);
}

/** One's-complement addition of two folded sums (RFC 1071 §2(C) "parallel summation"). */
export function checksumCombine(a: number, b: number): number {
  const s = a + b;
  return (s & 0xffff) + (s >>> 16);
}

/**
 * The folded sum of the TCP/UDP/ICMPv6 pseudo-header: source and destination
 * address, protocol number and upper-layer length (RFC 9293 §3.1 for IPv4,
 * 16-bit TCP length; RFC 8200 §8.1 for IPv6, 32-bit length). Add the
 * transport header and payload with `checksum(..., initial)`.
 */
export function pseudoHeaderChecksum(proto: number, src: Address, dst: Address, length: number): number {
  let sum = checksum(src.bytes, 0, src.bytes.length, 0);
  sum = checksum(dst.bytes, 0, dst.bytes.length, sum);
  // The zero byte plus the protocol byte form one word; the length is 16 bits
  // for IPv4 and 32 bits for IPv6 (both sum the same way when length < 2^16).
  sum += proto + (length & 0xffff) + Math.floor(length / 0x10000);
  return fold(sum);
}

/** The 16-bit one's-complement of a folded sum: the value to put in a checksum field. */
export function finishChecksum(sum: number): number {
  return ~sum & 0xffff;
}

/**
 * Incremental checksum update when one 16-bit word changes from `oldWord` to
 * `newWord` (RFC 1624 §3 eqn. 3: HC' = ~(~HC + ~m + m')). Used when a layer
 * rewrites a field in place (TTL, NAT ports and addresses).
 */
export function checksumUpdate2(oldChecksum: number, oldWord: number, newWord: number): number {
  const sum = (~oldChecksum & 0xffff) + (~oldWord & 0xffff) + (newWord & 0xffff);
  return ~fold(sum) & 0xffff;
}
