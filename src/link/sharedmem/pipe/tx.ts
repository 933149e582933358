import {
  checkPipePlacement,
  PIPE_HEAD_OFFSET,
  PIPE_LENGTH_SIZE,
  PIPE_PAD_MARKER,
  PIPE_RING_OFFSET,
  PIPE_TAIL_OFFSET,
  pipeMaxPayload,
  pipeSlotSize,
} from "./layout.ts";

const HEAD = PIPE_HEAD_OFFSET / 4;
const TAIL = PIPE_TAIL_OFFSET / 4;

/**
 * The producer end of a pipe (see layout.ts): `push` reserves room for a
 * message and returns where to write it, `commit` publishes every message
 * pushed since the last commit at once, `abort` takes them back.
 *
 * The consumer is not trusted: the only thing read from it is its head
 * counter, and a head that moves backwards or past what was committed marks
 * the pipe `broken` (every later push fails) instead of letting us overwrite
 * unread messages or compute a negative free space.
 */
export class PipeTx {
  /** Largest payload `push` can ever accept. */
  readonly maxPayload: number;
  /** Set when the consumer's head was impossible; the pipe accepts nothing more. */
  broken = false;

  private readonly ctl: Int32Array;
  private readonly ring32: Uint32Array;
  private readonly ringBase: number;
  private readonly capacity: number;
  private readonly mask: number;
  /** Position after the last pushed message (not yet visible to the consumer until `commit`). */
  private tail: number;
  /** Position the consumer saw last (`tail` at the last `commit`). */
  private committed: number;
  /** Last head read from the consumer. */
  private head: number;

  constructor(buffer: ArrayBufferLike, base: number, capacity: number) {
    checkPipePlacement(buffer, base, capacity);
    this.ctl = new Int32Array(buffer, base, PIPE_RING_OFFSET / 4);
    this.ring32 = new Uint32Array(buffer, base + PIPE_RING_OFFSET, capacity / 4);
    this.ringBase = base + PIPE_RING_OFFSET;
    this.capacity = capacity;
    this.mask = capacity - 1;
    this.maxPayload = pipeMaxPayload(capacity);
    // We own tail; start from what is there (zero for a fresh region).
    this.tail = this.committed = Atomics.load(this.ctl, TAIL) >>> 0;
    this.head = Atomics.load(this.ctl, HEAD) >>> 0;
    if ((this.tail - this.head) >>> 0 > capacity || (this.tail & 3) !== 0) this.broken = true;
  }

  /**
   * Reserves a message of `size` payload bytes and returns the byte offset
   * (into the whole shared buffer) where its payload goes, or -1 when the
   * ring has no room now (or `size` exceeds `maxPayload`, or the pipe is broken).
   */
  push(size: number): number {
    if (this.broken || !(size >= 0 && size <= this.maxPayload)) return -1;
    const slot = pipeSlotSize(size);
    let idx = this.tail & this.mask;
    const contiguous = this.capacity - idx;
    const need = slot <= contiguous ? slot : contiguous + slot;
    if (need > this.capacity - ((this.tail - this.head) >>> 0)) {
      if (!this.reloadHead() || need > this.capacity - ((this.tail - this.head) >>> 0)) return -1;
    }
    if (slot > contiguous) {
      this.ring32[idx >>> 2] = PIPE_PAD_MARKER;
      this.tail = (this.tail + contiguous) >>> 0;
      idx = 0;
    }
    this.ring32[idx >>> 2] = size;
    this.tail = (this.tail + slot) >>> 0;
    return this.ringBase + idx + PIPE_LENGTH_SIZE;
  }

  /** Publishes every message pushed since the last commit. */
  commit(): void {
    if (this.tail === this.committed) return;
    this.committed = this.tail;
    Atomics.store(this.ctl, TAIL, this.tail | 0);
  }

  /** Drops every message pushed since the last commit. */
  abort(): void {
    this.tail = this.committed;
  }

  /** Bytes pushed and not yet committed. */
  get uncommitted(): number {
    return (this.tail - this.committed) >>> 0;
  }

  /** Whether the consumer has released everything committed (re-reads its head). */
  isDrained(): boolean {
    this.reloadHead();
    return this.head === this.committed;
  }

  /** Reads the consumer's head; false (and `broken`) if it is impossible. */
  private reloadHead(): boolean {
    const h = Atomics.load(this.ctl, HEAD) >>> 0;
    // The head may only move forward, and never past what we committed.
    const advanced = (h - this.head) >>> 0;
    if (advanced > (this.committed - this.head) >>> 0 || (h & 3) !== 0) {
      this.broken = true;
      return false;
    }
    this.head = h;
    return true;
  }
}
