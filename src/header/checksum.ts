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
  // Any integer below 2^53: two divisions bring it below 2^22 (`>>>` alone would drop bits above
  // 32), then two 32-bit folds below 2^16. `& 0xffff` is exact here (ToInt32 is modulo 2^32).
  sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  sum = (sum & 0xffff) + (sum >>> 16);
  sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

/** Whether this host stores a Uint32 little-endian (every platform Bun runs on does). */
const LITTLE_ENDIAN = new Uint8Array(Uint32Array.of(1).buffer)[0] === 1;

/**
 * An Int32 view over the whole of the last buffer summed, so the word loop
 * reads 4 bytes at a time without allocating a view per call (pooled
 * buffers hit this cache every time; a new buffer costs one view).
 */
let lastBuffer: ArrayBufferLike | undefined;
let lastWords: Int32Array = new Int32Array(0);

/**
 * Below these lengths the unrolled byte loop is as fast as the word loop
 * (Bun 1.4, x64: 64 bytes ~24 ns by bytes, ~35 ns by words), and a new
 * Uint32Array view costs ~40 ns, worth it only for a longer run: a packet
 * allocated on its own (every `PacketBuffer.alloc`) misses the cache above.
 */
const WORDS_MIN_LENGTH = 128;
const WORDS_MIN_LENGTH_NEW_VIEW = 256;

/**
 * The folded 16-bit one's-complement sum of `len` bytes at `off`, added to
 * `initial` (not inverted). An odd trailing byte is padded with zero on the
 * right (RFC 1071 §4.1).
 *
 * RFC 1071 §2(B): the sum is independent of byte order, so the aligned
 * middle of a long buffer is summed as little-endian 32-bit words (two
 * 16-bit halves in separate accumulators, §2(C) "parallel summation") and the
 * folded result byte-swapped back; the ends are summed byte by byte.
 */
export function checksum(b: Uint8Array, off: number, len: number, initial = 0): number {
  let sum = initial;
  let i = off;
  const end = off + len;
  // Word pairs stay aligned to `off` only when the absolute start is even.
  if (
    len >= WORDS_MIN_LENGTH &&
    LITTLE_ENDIAN &&
    ((b.byteOffset + off) & 1) === 0 &&
    (len >= WORDS_MIN_LENGTH_NEW_VIEW || b.buffer === lastBuffer)
  ) {
    if ((b.byteOffset + off) & 2) {
      sum += (b[i]! << 8) | b[i + 1]!;
      i += 2;
    }
    const buf = b.buffer;
    if (buf !== lastBuffer) {
      lastBuffer = buf;
      lastWords = new Int32Array(buf, 0, buf.byteLength >>> 2);
    }
    const u = lastWords;
    let k = (b.byteOffset + i) >>> 2;
    const kEnd = k + ((end - i) >>> 2);
    const k4 = kEnd - 3;
    // Whole 32-bit words summed into two doubles: exact up to 2^53, and 2^32 ≡ 1 and 2^16 ≡ 1
    // (mod 0xffff), so folding the total gives the 16-bit one's-complement sum (RFC 1071 §2(B),
    // "deferred carries"); 1,480 bytes take ~170 ns (Bun 1.4, x64).
    // The words are read signed and the negative ones counted (each is its unsigned value minus
    // 2^32): a Uint32Array load above 2^31 does not fit the int32 the JIT speculates from early
    // traffic, and in `netstack serve` those "Overflow" deoptimisations recurred until the loop ran
    // unoptimised at ~2.5 µs per 1,480 bytes (issue 10, seen with BUN_JSC_printEachOSRExit). For the
    // same reason each word is added to a double accumulator on its own (-0 is no int32), never two
    // words to each other first.
    let a = -0;
    let c = -0;
    let neg = 0;
    let rounds = 0x10000;
    while (k < k4) {
      const w0 = u[k]!;
      const w1 = u[k + 1]!;
      const w2 = u[k + 2]!;
      const w3 = u[k + 3]!;
      a += w0;
      c += w1;
      a += w2;
      c += w3;
      neg += (w0 >>> 31) + (w1 >>> 31) + (w2 >>> 31) + (w3 >>> 31);
      k += 4;
      // Never reached by a packet (2^16 rounds are 1 MiB); keeps any length exact: each accumulator
      // stays within ±2^48. The combined value is the unsigned partial sum, so never negative.
      if (--rounds === 0) {
        a = fold(a + c + neg * 0x100000000);
        c = -0;
        neg = 0;
        rounds = 0x10000;
      }
    }
    while (k < kEnd) {
      const w = u[k]!;
      a += w;
      neg += w >>> 31;
      k++;
    }
    const s = fold(a + c + neg * 0x100000000);
    sum += ((s & 0xff) << 8) | (s >>> 8);
    i = k * 4 - b.byteOffset;
  }
  // Unrolled by 8 bytes: 4 big-endian words per iteration.
  const end8 = end - 7;
  while (i < end8) {
    sum +=
      ((b[i]! << 8) | b[i + 1]!) +
      ((b[i + 2]! << 8) | b[i + 3]!) +
      ((b[i + 4]! << 8) | b[i + 5]!) +
      ((b[i + 6]! << 8) | b[i + 7]!);
    i += 8;
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
