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
 * ArrayBuffer aliasing a memfd shared with another process) the engine's
 * wait cannot see the other process. There an `ExternalWaiter` takes over
 * (the sharedmem link uses futex(2) from a helper Worker: futex-waiter.ts);
 * without one, the wait degrades to a timer that re-checks every `pollMs`.
 */
export interface ExternalWaiter {
  /** Producer side: wake a consumer sleeping on the doorbell (called only when it said it sleeps). */
  wake(): void;
  /** Consumer side: resolves when the doorbell no longer holds `token`. */
  wait(token: number): Promise<unknown>;
  close(): void;
}

export interface NotifierOptions {
  /** Over memory the engine cannot wait on: re-check period without an external waiter (default 1 ms). */
  pollMs?: number;
  /** Over memory the engine cannot wait on: makes the waiter for the doorbell `cells[index]`. */
  external?: (cells: Int32Array, index: number) => ExternalWaiter;
}

export class Notifier {
  private readonly cells: Int32Array;
  private readonly doorbell: number;
  private readonly waiting: number;
  private readonly shared: boolean;
  private readonly pollMs: number;
  private readonly external: ExternalWaiter | undefined;

  /** `index` is the Int32 index of the doorbell in `buffer`; the waiting flag is the next cell. */
  constructor(buffer: ArrayBufferLike, index: number, opts: NotifierOptions = {}) {
    this.cells = new Int32Array(buffer, 0, buffer.byteLength >>> 2);
    this.doorbell = index;
    this.waiting = index + 1;
    this.shared = typeof SharedArrayBuffer !== "undefined" && buffer instanceof SharedArrayBuffer;
    this.pollMs = opts.pollMs ?? 1;
    this.external = this.shared ? undefined : opts.external?.(this.cells, index);
  }

  /** Producer: work was committed; wake the consumer if it sleeps. */
  signal(): void {
    Atomics.add(this.cells, this.doorbell, 1);
    if (Atomics.load(this.cells, this.waiting) !== 0) {
      Atomics.store(this.cells, this.waiting, 0);
      if (this.shared) Atomics.notify(this.cells, this.doorbell);
      else this.external?.wake();
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
    if (!this.shared) {
      if (this.external) return this.external.wait(token);
      return new Promise((resolve) => setTimeout(resolve, this.pollMs));
    }
    const r = Atomics.waitAsync(this.cells, this.doorbell, token);
    return r.async ? r.value : undefined;
  }

  /** Wakes our own sleeping consumer (to stop it): bumps the doorbell as a producer would. */
  wake(): void {
    Atomics.store(this.cells, this.waiting, 1);
    this.signal();
  }

  /** Releases the external waiter (its helper thread), if any. */
  close(): void {
    this.external?.close();
  }
}
