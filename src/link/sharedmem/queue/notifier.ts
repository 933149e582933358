/**
 * Wake-ups between the two sides of a lane without a syscall per packet: an
 * Int32 "doorbell" the producer bumps after each batch, and a "waiting" flag
 * the consumer raises before it goes to sleep on the doorbell. The producer
 * calls `Atomics.notify` only when the flag is up, so a busy consumer (which
 * drains in batches and never sleeps) costs the producer one `Atomics.add`
 * and one load per batch.
 *
 * No wake-up is lost: the consumer raises the flag, reads the doorbell, checks
 * its queue once more, then waits for the doorbell to change from the value it
 * read. A producer that committed after that check also bumped the doorbell
 * after the read (so the wait returns at once) and sees the flag (so it
 * notifies). Atomics are sequentially consistent, which is what makes this
 * argument hold.
 *
 * `Atomics.waitAsync` needs a SharedArrayBuffer. Over an mmap'd region (an
 * ArrayBuffer aliasing a memfd shared with another process) the futex-style
 * wait of the engine cannot see the other process, so the wait degrades to a
 * timer that re-checks every `pollMs`: the idle side still sleeps, only with
 * a bounded wake-up latency.
 */
export class Notifier {
  private readonly cells: Int32Array;
  private readonly doorbell: number;
  private readonly waiting: number;
  private readonly shared: boolean;

  /** `index` is the Int32 index of the doorbell in `buffer`; the waiting flag is the next cell. */
  constructor(
    buffer: ArrayBufferLike,
    index: number,
    private readonly pollMs = 1,
  ) {
    this.cells = new Int32Array(buffer);
    this.doorbell = index;
    this.waiting = index + 1;
    this.shared = typeof SharedArrayBuffer !== "undefined" && buffer instanceof SharedArrayBuffer;
  }

  /** Producer: work was committed; wake the consumer if it sleeps. */
  signal(): void {
    Atomics.add(this.cells, this.doorbell, 1);
    if (Atomics.load(this.cells, this.waiting) !== 0) {
      Atomics.store(this.cells, this.waiting, 0);
      if (this.shared) Atomics.notify(this.cells, this.doorbell);
    }
  }

  /** Consumer, step 1: announce the intent to sleep; returns the doorbell value to wait on. */
  prepare(): number {
    Atomics.store(this.cells, this.waiting, 1);
    return Atomics.load(this.cells, this.doorbell);
  }

  /** Consumer: work turned up after `prepare`; stay awake. */
  cancel(): void {
    Atomics.store(this.cells, this.waiting, 0);
  }

  /**
   * Consumer, step 2 (after re-checking its queue): resolves when the doorbell
   * moves past `token`. Returns undefined when it already has (no wait needed).
   */
  wait(token: number): Promise<unknown> | undefined {
    if (!this.shared) return new Promise((resolve) => setTimeout(resolve, this.pollMs));
    const r = Atomics.waitAsync(this.cells, this.doorbell, token);
    return r.async ? r.value : undefined;
  }

  /** Wakes our own sleeping consumer (to stop it): bumps the doorbell as a producer would. */
  wake(): void {
    Atomics.store(this.cells, this.waiting, 1);
    this.signal();
  }
}
