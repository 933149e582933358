/**
 * Sequence number arithmetic modulo 2**32 (RFC 9293 §3.4), on plain numbers.
 *
 * RFC 9293 §3.4: "It is essential to remember that the actual sequence number
 * space is finite, though very large. This space ranges from 0 to 2**32 - 1.
 * Since the space is finite, all arithmetic dealing with sequence numbers must
 * be performed modulo 2**32."
 *
 * A sequence number is an unsigned 32-bit integer held in a `number`. Every
 * function here takes and returns values in [0, 2**32). Comparisons use the
 * sign of the 32-bit difference, `((a - b) | 0) < 0` (the "serial number
 * arithmetic" of RFC 1982 §3.2), so they stay right across the wrap from
 * 2**32 - 1 to 0. Two numbers exactly 2**31 apart are each "less than" the
 * other; no window in TCP is that large (RFC 7323 §2.3 caps it at 2**30).
 */

/** An unsigned 32-bit sequence number. */
export type SeqNum = number;

/** Whether `a` comes before `b` in sequence space. */
export function seqLessThan(a: SeqNum, b: SeqNum): boolean {
  return ((a - b) | 0) < 0;
}

/** Whether `a` comes before `b` or equals it. */
export function seqLessThanEq(a: SeqNum, b: SeqNum): boolean {
  return ((a - b) | 0) <= 0;
}

/** Whether `a` comes after `b` in sequence space. */
export function seqGreaterThan(a: SeqNum, b: SeqNum): boolean {
  return ((a - b) | 0) > 0;
}

/** Whether `a` comes after `b` or equals it. */
export function seqGreaterThanEq(a: SeqNum, b: SeqNum): boolean {
  return ((a - b) | 0) >= 0;
}

/** `a + n` modulo 2**32; `n` may be negative. */
export function seqAdd(a: SeqNum, n: number): SeqNum {
  return (a + n) >>> 0;
}

/** `a - n` modulo 2**32. */
export function seqSub(a: SeqNum, n: number): SeqNum {
  return (a - n) >>> 0;
}

/** The number of sequence numbers from `a` up to `b` (`b - a` modulo 2**32): `seqAdd(a, seqSize(a, b)) === b`. */
export function seqSize(a: SeqNum, b: SeqNum): number {
  return (b - a) >>> 0;
}

/** Whether `a ≤ v < b` in sequence space (the half-open range starting at `a`; empty when `a === b`). */
export function inRange(v: SeqNum, a: SeqNum, b: SeqNum): boolean {
  return (v - a) >>> 0 < (b - a) >>> 0;
}

/**
 * Whether `v` lies in the window of `size` numbers starting at `first`
 * (`first ≤ v < first + size`), the test of RFC 9293 §3.10.7.4 "RCV.NXT =<
 * SEG.SEQ < RCV.NXT+RCV.WND". A window of size 0 holds nothing.
 */
export function inWindow(v: SeqNum, first: SeqNum, size: number): boolean {
  return (v - first) >>> 0 < size;
}

/** The later of `a` and `b` in sequence space. */
export function seqMax(a: SeqNum, b: SeqNum): SeqNum {
  return ((a - b) | 0) < 0 ? b : a;
}

/** The earlier of `a` and `b` in sequence space. */
export function seqMin(a: SeqNum, b: SeqNum): SeqNum {
  return ((a - b) | 0) < 0 ? a : b;
}
