/**
 * Layout of one pipe: a single-producer single-consumer ring of
 * variable-length messages in shared memory (a `SharedArrayBuffer`, or an
 * mmap'd memfd seen through an `ArrayBuffer`). The idea is the seed's
 * `sharedmem/pipe`; the layout here is our own.
 *
 *   base + 0    head  (Int32)  bytes the consumer has released; written only by the consumer
 *   base + 64   tail  (Int32)  bytes the producer has committed; written only by the producer
 *   base + 128  ring  `capacity` bytes (a power of two)
 *
 * The counters are free-running unsigned 32-bit byte positions (compared as
 * `(a - b) >>> 0`), so one Int32 per side suffices: no BigInt per operation,
 * and `Atomics.load`/`store` on them order the ring bytes (the producer writes
 * a message with plain stores, then publishes it with an atomic store of
 * tail; the consumer reads tail atomically before the bytes it covers). Head
 * and tail sit on separate 64-byte cache lines so the two sides do not
 * false-share.
 *
 * A message is a 4-byte length (native byte order; both sides run on one
 * machine) followed by the payload, padded to a multiple of 4. When a message
 * does not fit before the end of the ring, the producer writes `PAD_MARKER` in
 * the length slot and the message starts again at ring offset 0. A message
 * slot is at most half the ring, so after a wrap it always fits in an empty
 * ring.
 */

export const PIPE_HEAD_OFFSET = 0;
export const PIPE_TAIL_OFFSET = 64;
export const PIPE_RING_OFFSET = 128;
/** Length prefix of a message. */
export const PIPE_LENGTH_SIZE = 4;
/** A length slot with this value means "skip to the start of the ring". */
export const PIPE_PAD_MARKER = 0xffffffff;
export const PIPE_MIN_CAPACITY = 64;
/** Positions are 32-bit counters; the ring must be much smaller than 2^32 for `(a - b) >>> 0` to order them. */
export const PIPE_MAX_CAPACITY = 1 << 30;

/** Bytes a pipe of `capacity` takes in the region (header and ring). */
export function pipeSize(capacity: number): number {
  return PIPE_RING_OFFSET + capacity;
}

/** Whether `capacity` is a usable ring size: a power of two within the limits. */
export function isValidPipeCapacity(capacity: number): boolean {
  return (
    Number.isInteger(capacity) &&
    capacity >= PIPE_MIN_CAPACITY &&
    capacity <= PIPE_MAX_CAPACITY &&
    (capacity & (capacity - 1)) === 0
  );
}

/** Bytes one message of `payload` bytes takes in the ring (length prefix plus padding to 4). */
export function pipeSlotSize(payload: number): number {
  return PIPE_LENGTH_SIZE + ((payload + 3) & ~3);
}

/** Largest payload one message can carry in a ring of `capacity` (its slot is at most half the ring). */
export function pipeMaxPayload(capacity: number): number {
  return capacity / 2 - PIPE_LENGTH_SIZE;
}

/**
 * Checks that a pipe fits at `base` in `buffer` (8-aligned, in range, valid
 * capacity). Throws a RangeError: a bad layout is a programming error of the
 * region's creator, found when the region is opened, never on the data path.
 */
export function checkPipePlacement(buffer: ArrayBufferLike, base: number, capacity: number): void {
  if (!isValidPipeCapacity(capacity)) {
    throw new RangeError(
      `Cannot place a pipe of ${capacity} bytes: capacity must be a power of two in [64, 2^30]`,
    );
  }
  if (
    !Number.isInteger(base) ||
    base < 0 ||
    base % 8 !== 0 ||
    base + pipeSize(capacity) > buffer.byteLength
  ) {
    throw new RangeError(
      `Cannot place a pipe of ${capacity} bytes at offset ${base} in a region of ${buffer.byteLength} bytes`,
    );
  }
}

/** Resets a pipe's counters to empty. Only the region's creator calls this, before either side uses it. */
export function initPipe(buffer: ArrayBufferLike, base: number, capacity: number): void {
  checkPipePlacement(buffer, base, capacity);
  const i32 = new Int32Array(buffer, base, PIPE_RING_OFFSET / 4);
  Atomics.store(i32, PIPE_HEAD_OFFSET / 4, 0);
  Atomics.store(i32, PIPE_TAIL_OFFSET / 4, 0);
}
