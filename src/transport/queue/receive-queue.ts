/**
 * The bounded, byte-counted queue of received items that datagram endpoints
 * (UDP, ping) share: packets in, reads out, drops counted by the caller.
 *
 * A ring buffer that doubles when full, so `push` and `shift` are O(1)
 * without `Array.prototype.shift` and without allocating per item once warm.
 */

const MIN_CAPACITY = 8;

export class ReceiveQueue<T> {
  private items: (T | undefined)[];
  private sizes: number[];
  /** Index of the oldest item. */
  private head = 0;
  private count = 0;
  private used = 0;

  /**
   * `limitBytes` is the receive buffer size (SO_RCVBUF). It may be changed
   * at any time; a smaller limit drops nothing already queued.
   */
  constructor(public limitBytes: number) {
    this.items = new Array<T | undefined>(MIN_CAPACITY);
    this.sizes = new Array<number>(MIN_CAPACITY).fill(0);
  }

  /** Bytes queued (the sum of the sizes given to `push`). */
  get bytes(): number {
    return this.used;
  }

  /** Items queued. */
  get length(): number {
    return this.count;
  }

  /** Whether a `push` now would be refused. */
  get full(): boolean {
    return this.used >= this.limitBytes;
  }

  /**
   * Appends `item`, counted as `size` bytes (callers may add per-item
   * overhead, as Linux counts an skb's truesize). Returns false, queueing
   * nothing, when the queue is full: the caller counts the drop
   * (`stats.udp.receiveBufferErrors`).
   *
   * "Full" means `bytes >= limitBytes` before this item: like Linux
   * (`__udp_enqueue_schedule_skb`) and gVisor, an item is accepted while the
   * queue is under its limit, so one datagram larger than the whole buffer
   * still gets through to an empty queue.
   */
  push(item: T, size: number): boolean {
    if (this.used >= this.limitBytes) return false;
    if (this.count === this.items.length) this.grow();
    const i = (this.head + this.count) & (this.items.length - 1);
    this.items[i] = item;
    this.sizes[i] = size;
    this.count++;
    this.used += size;
    return true;
  }

  /** Removes and returns the oldest item, or `undefined` when empty. */
  shift(): T | undefined {
    if (this.count === 0) return undefined;
    const i = this.head;
    const item = this.items[i];
    this.items[i] = undefined; // let it be collected
    this.used -= this.sizes[i]!;
    this.head = (i + 1) & (this.items.length - 1);
    this.count--;
    return item;
  }

  /** The oldest item without removing it (MSG_PEEK), or `undefined` when empty. */
  peek(): T | undefined {
    return this.count === 0 ? undefined : this.items[this.head];
  }

  /** The byte size the oldest item was pushed with (0 when empty), e.g. for FIONREAD. */
  peekSize(): number {
    return this.count === 0 ? 0 : this.sizes[this.head]!;
  }

  /** Drops every item. */
  clear(): void {
    this.items.fill(undefined);
    this.head = 0;
    this.count = 0;
    this.used = 0;
  }

  /** The queued items, oldest first (a copy: for tests and diagnostics, not the hot path). */
  toArray(): T[] {
    const out: T[] = [];
    const mask = this.items.length - 1;
    for (let k = 0; k < this.count; k++) out.push(this.items[(this.head + k) & mask] as T);
    return out;
  }

  /** Doubles the ring (capacity stays a power of two), unrolling it to start at index 0. */
  private grow(): void {
    const cap = this.items.length;
    const items = new Array<T | undefined>(cap * 2);
    const sizes = new Array<number>(cap * 2).fill(0);
    for (let k = 0; k < this.count; k++) {
      const j = (this.head + k) & (cap - 1);
      items[k] = this.items[j];
      sizes[k] = this.sizes[j]!;
    }
    this.items = items;
    this.sizes = sizes;
    this.head = 0;
  }
}
