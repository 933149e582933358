/**
 * Time for the stack. The core never reads the wall clock: it asks its `Clock`.
 * Tests use `ManualClock` and advance it; the product uses `RealClock`.
 * Both keep all timers in one binary heap, so a thousand retransmission timers
 * cost one host timer, not a thousand (STYLE: one timer wheel).
 */
export interface Timer {
  /** Stops the timer; returns whether it was pending. */
  stop(): boolean;
  /** Re-arms the timer to fire `delayMs` from now (stopping it first if pending). */
  reset(delayMs: number): void;
  readonly pending: boolean;
}

export interface Clock {
  /** Monotonic milliseconds (fractional allowed). */
  now(): number;
  /** Wall-clock milliseconds since the Unix epoch (for timestamps shown to people). */
  wallNow(): number;
  /** Calls `fn` once, `delayMs` from now. */
  afterFunc(delayMs: number, fn: () => void): Timer;
  /**
   * Optional: when the earliest pending timer is due (in `now()`'s time), or undefined with none.
   * A loop that blocks the thread (the TUN link's hot poll, link/fdbased/hot-poller.ts) wakes by
   * then instead of making the timer late.
   */
  nextDeadline?(): number | undefined;
  /** Optional: fires every timer due by now, earliest first (what the clock's own driver would do, sooner). */
  runDue?(): void;
}

class HeapTimer implements Timer {
  at = 0;
  seq = 0;
  index = -1;
  constructor(
    private readonly sched: TimerHeap,
    readonly fn: () => void,
  ) {}
  get pending(): boolean {
    return this.index !== -1;
  }
  stop(): boolean {
    return this.sched.remove(this);
  }
  reset(delayMs: number): void {
    this.sched.remove(this);
    this.sched.insert(this, this.sched.now() + Math.max(0, delayMs));
  }
}

/** A min-heap of timers ordered by (deadline, insertion order). */
abstract class TimerHeap implements Clock {
  private heap: HeapTimer[] = [];
  private seq = 0;

  abstract now(): number;
  abstract wallNow(): number;
  /** Called when the earliest deadline changes. */
  protected abstract earliestChanged(): void;

  afterFunc(delayMs: number, fn: () => void): Timer {
    const t = new HeapTimer(this, fn);
    this.insert(t, this.now() + Math.max(0, delayMs));
    return t;
  }

  get pendingTimers(): number {
    return this.heap.length;
  }

  protected peekDeadline(): number | undefined {
    return this.heap[0]?.at;
  }

  /** When the earliest pending timer is due, or undefined with none (`Clock.nextDeadline`). */
  nextDeadline(): number | undefined {
    return this.heap[0]?.at;
  }

  /** Fires every timer whose deadline is at or before `time`, earliest first. */
  protected fireUntil(time: number, before?: (at: number) => void): void {
    for (;;) {
      const top = this.heap[0];
      if (!top || top.at > time) return;
      this.remove(top);
      before?.(top.at);
      top.fn();
    }
  }

  insert(t: HeapTimer, at: number): void {
    t.at = at;
    t.seq = this.seq++;
    t.index = this.heap.length;
    this.heap.push(t);
    this.up(t.index);
    if (this.heap[0] === t) this.earliestChanged();
  }

  remove(t: HeapTimer): boolean {
    const i = t.index;
    if (i === -1) return false;
    const last = this.heap.pop()!;
    t.index = -1;
    if (last !== t) {
      this.heap[i] = last;
      last.index = i;
      this.down(i);
      this.up(last.index);
    }
    if (i === 0) this.earliestChanged();
    return true;
  }

  private less(a: HeapTimer, b: HeapTimer): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq);
  }
  private swap(i: number, j: number): void {
    const h = this.heap;
    const a = h[i]!;
    const b = h[j]!;
    h[i] = b;
    h[j] = a;
    a.index = j;
    b.index = i;
  }
  private up(i: number): void {
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(this.heap[i]!, this.heap[p]!)) break;
      this.swap(i, p);
      i = p;
    }
  }
  private down(i: number): void {
    const n = this.heap.length;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < n && this.less(this.heap[l]!, this.heap[m]!)) m = l;
      if (r < n && this.less(this.heap[r]!, this.heap[m]!)) m = r;
      if (m === i) return;
      this.swap(i, m);
      i = m;
    }
  }
}

/** A clock that moves only when told to. Timers fire synchronously inside `advance`. */
export class ManualClock extends TimerHeap {
  private t: number;
  constructor(
    start = 0,
    private readonly wallBase = 1_700_000_000_000,
  ) {
    super();
    this.t = start;
  }
  now(): number {
    return this.t;
  }
  wallNow(): number {
    return this.wallBase + this.t;
  }
  protected earliestChanged(): void {}

  /** Moves time forward by `ms`, firing due timers in deadline order (time reads as each one's deadline). */
  advance(ms: number): void {
    // A monotonic clock never goes back (`Clock.now`).
    if (!(ms >= 0)) throw new RangeError(`Cannot advance a clock by ${ms} ms`);
    const end = this.t + ms;
    this.fireUntil(end, (at) => {
      if (at > this.t) this.t = at;
    });
    this.t = end;
  }

  /** Fires timers due now without moving time. */
  runDue(): void {
    this.advance(0);
  }

  /** Advances to the next pending deadline, if any; returns whether one fired. */
  advanceToNext(): boolean {
    const d = this.peekDeadline();
    if (d === undefined) return false;
    this.advance(Math.max(0, d - this.t));
    return true;
  }
}

/**
 * The `RealClock`s of this thread that have a pending timer (each knows its index, -1 when out):
 * what `realClocks` reports. A clock without timers is not held here, so a dropped stack's clock
 * is collected as before.
 */
const withTimers: RealClock[] = [];

/**
 * The host's monotonic clock with one host timer (`setTimeout`) driving the heap.
 *
 * The host timer has millisecond resolution (Bun, as Node, waits at least 1 ms: a timer due in
 * 0.2 ms fires about 1 ms late). A loop that blocks the thread and wakes for the deadline
 * (`realClocks`) fires due timers itself with `runDue`, to the precision of its wait.
 */
export class RealClock extends TimerHeap {
  private host: ReturnType<typeof setTimeout> | undefined;
  private hostAt = Number.POSITIVE_INFINITY;
  private readonly origin = performance.timeOrigin;
  /** Index in `withTimers`, -1 without pending timers. */
  private listed = -1;

  now(): number {
    return performance.now();
  }
  wallNow(): number {
    return this.origin + performance.now();
  }
  /** Fires the timers due by now without waiting for the host timer (`Clock.runDue`). */
  runDue(): void {
    this.fireUntil(this.now());
  }
  protected earliestChanged(): void {
    const d = this.peekDeadline();
    if (d === undefined) {
      if (this.listed !== -1) this.unlist();
      // With no timer left the host timer stays set and fires for nothing (issue 10, request/response):
      // a connection stops its retransmission timer on every ACK and arms it again on its next send;
      // clearing and setting the host timer each time cost a `Timeout` and a closure per round trip.
      return;
    }
    if (this.listed === -1) {
      this.listed = withTimers.length;
      withTimers.push(this);
    }
    if (this.host !== undefined && d >= this.hostAt) return;
    if (this.host !== undefined) clearTimeout(this.host);
    this.hostAt = d;
    this.host = setTimeout(this.onHostTimer, Math.max(0, d - this.now()));
    // Timers of the stack must not keep a process alive on their own.
    (this.host as { unref?: () => void }).unref?.();
  }
  private readonly onHostTimer = (): void => this.onHost();
  private onHost(): void {
    this.host = undefined;
    this.hostAt = Number.POSITIVE_INFINITY;
    this.fireUntil(this.now());
    this.earliestChanged();
  }
  private unlist(): void {
    const last = withTimers.pop()!;
    if (last !== this) {
      withTimers[this.listed] = last;
      last.listed = this.listed;
    }
    this.listed = -1;
  }
}

/**
 * Every `RealClock` of this thread as one deadline source: the earliest deadline of any of them,
 * and `runDue` on each. A thread that blocks (the hot poll) consults it by default, so a stack on
 * the default clock needs no wiring; a stack on another clock registers that clock with the loop
 * (for the hot poll: `hotPoller.addClock`).
 */
export const realClocks: Pick<Clock, "now"> & Required<Pick<Clock, "nextDeadline" | "runDue">> = {
  now: () => performance.now(),
  nextDeadline(): number | undefined {
    let min: number | undefined;
    for (let i = 0; i < withTimers.length; i++) {
      const d = withTimers[i]!.nextDeadline();
      if (d !== undefined && (min === undefined || d < min)) min = d;
    }
    return min;
  },
  runDue(): void {
    // Backwards: a clock that runs out of timers swaps the last (already visited) one into its place.
    for (let i = withTimers.length - 1; i >= 0; i--) {
      if (i < withTimers.length) withTimers[i]!.runDue();
    }
  },
};
