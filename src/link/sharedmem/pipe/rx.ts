import {
  checkPipePlacement,
  PIPE_HEAD_OFFSET,
  PIPE_LENGTH_SIZE,
  PIPE_PAD_MARKER,
  PIPE_RING_OFFSET,
  PIPE_TAIL_OFFSET,
  pipeMaxPayload,
} from "./layout.ts";

const HEAD = PIPE_HEAD_OFFSET / 4;
const TAIL = PIPE_TAIL_OFFSET / 4;

/**
 * The consumer end of a pipe (see layout.ts): `pull` returns the next
 * message's length (its payload starts at `offset`), `flush` releases every
 * message pulled so far to the producer, which may then overwrite them.
 *
 * The producer is not trusted. Every value read from shared memory is read
 * once into a local and checked before use: a tail that moves backwards or
 * claims more than the ring holds, a length that would run past the end of
 * the ring or past the committed bytes, a misaligned position. Any of them
 * marks the pipe `broken` (counted by the caller; `pull` returns -1 from then
 * on) instead of throwing or reading outside the ring. The payload bytes may
 * still change under us while we read them; only their bounds are ours.
 */
export class PipeRx {
  /** Largest payload a well-behaved producer can send. */
  readonly maxPayload: number;
  /** Byte offset (into the whole shared buffer) of the payload of the message `pull` returned last. */
  offset = 0;
  /** Set when the producer wrote something impossible; the pipe yields nothing more. */
  broken = false;

  private readonly ctl: Int32Array;
  private readonly ring32: Uint32Array;
  private readonly ringBase: number;
  private readonly capacity: number;
  private readonly mask: number;
  /** Position after the last message pulled. */
  private head: number;
  /** Position the producer has committed, as last read. */
  private tail: number;
  /** `head` at the last flush. */
  private released: number;

  constructor(buffer: ArrayBufferLike, base: number, capacity: number) {
    checkPipePlacement(buffer, base, capacity);
    this.ctl = new Int32Array(buffer, base, PIPE_RING_OFFSET / 4);
    this.ring32 = new Uint32Array(buffer, base + PIPE_RING_OFFSET, capacity / 4);
    this.ringBase = base + PIPE_RING_OFFSET;
    this.capacity = capacity;
    this.mask = capacity - 1;
    this.maxPayload = pipeMaxPayload(capacity);
    this.head = this.released = this.tail = Atomics.load(this.ctl, HEAD) >>> 0;
    if ((this.head & 3) !== 0) this.broken = true;
  }

  /**
   * The next message's payload length (payload at `offset`), or -1 when no
   * committed message is waiting or the pipe is broken.
   */
  pull(): number {
    if (this.broken) return -1;
    for (;;) {
      let avail = (this.tail - this.head) >>> 0;
      if (avail === 0) {
        if (!this.reloadTail()) return -1;
        avail = (this.tail - this.head) >>> 0;
        if (avail === 0) return -1;
      }
      const idx = this.head & this.mask;
      const contiguous = this.capacity - idx;
      const len = this.ring32[idx >>> 2]! >>> 0;
      if (len === PIPE_PAD_MARKER) {
        if (contiguous > avail) return this.fail();
        this.head = (this.head + contiguous) >>> 0;
        continue;
      }
      // Bounds before arithmetic: `len` is any 32-bit value the producer chose.
      if (len > this.maxPayload) return this.fail();
      const slot = PIPE_LENGTH_SIZE + ((len + 3) & ~3);
      if (slot > contiguous || slot > avail) return this.fail();
      this.offset = this.ringBase + idx + PIPE_LENGTH_SIZE;
      this.head = (this.head + slot) >>> 0;
      return len;
    }
  }

  /** Releases every message pulled so far; their bytes may be overwritten after this. */
  flush(): void {
    if (this.head === this.released) return;
    this.released = this.head;
    Atomics.store(this.ctl, HEAD, this.head | 0);
  }

  /** Whether a committed message may be waiting (one atomic load; a broken pipe is never ready). */
  hasPending(): boolean {
    if (this.broken) return false;
    return this.head !== this.tail || Atomics.load(this.ctl, TAIL) >>> 0 !== this.head;
  }

  /** Reads the producer's tail; false (and `broken`) if it is impossible. */
  private reloadTail(): boolean {
    const t = Atomics.load(this.ctl, TAIL) >>> 0;
    // The tail only moves forward, never more than a ring ahead of what we released.
    if ((t - this.released) >>> 0 > this.capacity || (t - this.head) >>> 0 > this.capacity || (t & 3) !== 0) {
      this.fail();
      return false;
    }
    this.tail = t;
    return true;
  }

  private fail(): number {
    this.broken = true;
    return -1;
  }
}
