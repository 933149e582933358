import { type Clock, RealClock, realClocks } from "../../tcpip/clock.ts";
import { ERRNO, PollFds, ppoll } from "../rawfile/index.ts";

/** An fd polled "hot" on the main thread (see `FdEndpointOptions.hotMs`). */
export interface HotMember {
  readonly fd: number;
  /** Events to poll for (POLLIN). */
  readonly hotEvents: number;
  /**
   * Called after each poll of the turn with the fd's `revents` (0: nothing came), or with
   * `pollFailed` when the poll itself failed. Returns whether to stay in the poller.
   */
  hotTurn(revents: number, pollFailed: boolean): boolean;
}

/** What the poller needs of a clock to wake for its timers (see `Clock.nextDeadline`, `Clock.runDue`). */
export type DeadlineSource = Pick<Clock, "now" | "nextDeadline" | "runDue">;

/** The wait of one turn: `ppoll(2)` in the product; a test passes its own to see the timeouts. */
export type PollFunction = (fds: PollFds, timeoutMs: number) => number;

export interface HotPollerOptions {
  /** Default `ppoll` (rawfile): a fractional timeout is kept to the nanosecond. */
  poll?: PollFunction;
  /** Clocks watched from the start (default none; the thread's `hotPoller` watches `realClocks`). */
  clocks?: DeadlineSource[];
}

/**
 * One poll per event-loop turn for every hot fd of this thread: the thread
 * blocks in the kernel for at most `timeoutMs` (so timers and other I/O of the
 * event loop still turn), and the kernel wakes it as soon as any fd is
 * readable. Shared, so two hot links wait together instead of taking turns
 * blocking (a packet on one would otherwise wait out the other's timeout).
 *
 * Stack timers: the wait also ends when the earliest timer of a watched clock
 * is due (not at all when one is due already), and the poller then fires the
 * due timers itself (`runDue`), before it hands the fds their turn. So a hot
 * link no longer holds a stack timer back for the rest of a 1 ms poll, and a
 * timer due in 0.2 ms fires then, give or take ppoll's own oversleep (median
 * ~0.13 ms on the team's VM, most of it the kernel's 50 µs timer slack and the
 * wake-up), rather than with the host timer's 1 ms resolution (`RealClock`). The
 * thread's `hotPoller` watches every `RealClock` of the thread (`realClocks`);
 * a stack on another clock registers it with `addClock`. A clock without
 * `nextDeadline` cannot be watched; one without `runDue` is waited for but its
 * timers fire by its own driver (the poll does not block until then).
 */
export class HotPoller {
  private members: HotMember[] = [];
  /** The pollfd array for `members`, rebuilt when they change (not per turn). */
  private fds: PollFds | undefined;
  private scheduled = false;
  private inTurn = false;
  private readonly poll: PollFunction;
  private readonly clocks: DeadlineSource[];

  constructor(
    private readonly timeoutMs: number,
    opts: HotPollerOptions = {},
  ) {
    this.poll = opts.poll ?? ppoll;
    this.clocks = [...(opts.clocks ?? [])];
  }

  /**
   * Wakes the poll for `clock`'s timers until the returned function is called. A `RealClock` is
   * watched already where `realClocks` is (the thread's `hotPoller`): then this does nothing.
   */
  addClock(clock: DeadlineSource): () => void {
    if (clock instanceof RealClock && this.clocks.includes(realClocks)) return () => {};
    this.clocks.push(clock);
    let added = true;
    return () => {
      if (!added) return;
      added = false;
      const i = this.clocks.indexOf(clock);
      if (i !== -1) this.clocks.splice(i, 1);
    };
  }

  get size(): number {
    return this.members.length;
  }

  has(m: HotMember): boolean {
    return this.members.includes(m);
  }

  /** Polls `m` from the next turn on (idempotent). */
  add(m: HotMember): void {
    if (this.members.includes(m)) return;
    this.members.push(m);
    this.fds = undefined;
    this.schedule();
  }

  remove(m: HotMember): void {
    const i = this.members.indexOf(m);
    if (i === -1) return;
    this.members.splice(i, 1);
    this.fds = undefined;
  }

  private schedule(): void {
    if (this.scheduled || this.inTurn) return;
    this.scheduled = true;
    setImmediate(this.onTurn);
  }

  private readonly onTurn = (): void => {
    this.scheduled = false;
    try {
      if (this.members.length > 0) this.turn();
    } finally {
      // A timer or member that threw (reported as any uncaught error) does not stop the poll.
      if (this.members.length > 0) this.schedule();
    }
  };

  /** Set by `waitMs`: a clock's deadline, not `timeoutMs`, bounds this turn's wait. */
  private timerBound = false;

  /** This turn's wait: `timeoutMs`, or less when a watched clock's timer is due sooner (0: due now). */
  private waitMs(): number {
    let wait = this.timeoutMs;
    this.timerBound = false;
    const clocks = this.clocks;
    for (let i = 0; i < clocks.length; i++) {
      const c = clocks[i]!;
      const d = c.nextDeadline?.();
      if (d === undefined) continue;
      const left = d - c.now();
      if (left < wait) {
        wait = left;
        this.timerBound = true;
      }
    }
    return Math.max(wait, 0);
  }

  private runDueTimers(): void {
    const clocks = this.clocks;
    for (let i = 0; i < clocks.length; i++) clocks[i]!.runDue?.();
  }

  private turn(): void {
    const members = this.members.slice();
    let fds = this.fds;
    if (!fds) {
      fds = new PollFds(members.length);
      for (let i = 0; i < members.length; i++) fds.set(i, members[i]!.fd, members[i]!.hotEvents);
      this.fds = fds;
    }
    const r = this.poll(fds, this.waitMs());
    const failed = r < 0 && r !== -ERRNO.EINTR;
    this.inTurn = true;
    try {
      // Timers first: a packet handled in this turn came no earlier than the timer fell due.
      if (this.timerBound) this.runDueTimers();
      for (let i = 0; i < members.length; i++) {
        const m = members[i]!;
        // A member removed by an earlier one's turn (a close from a dispatcher) is skipped.
        if (!this.members.includes(m)) continue;
        if (!m.hotTurn(r > 0 ? fds.revents(i) : 0, failed)) this.remove(m);
      }
    } finally {
      this.inTurn = false;
    }
  }
}

/**
 * Longest block in one hot poll (ms): the event loop (host timers, the REST server) turns at
 * least this often while a link is hot. A packet ends the block at once, whatever the timeout,
 * and so does a due timer of a watched clock.
 */
export const HOT_POLL_MS = 1;

/**
 * The poller of this thread (a Worker has its own module instance). It watches every `RealClock`
 * of the thread; a stack on another clock calls `hotPoller.addClock(stack.clock)` (as `serve`'s
 * TUN opener does for whatever clock its stack has).
 */
export const hotPoller = new HotPoller(HOT_POLL_MS, { clocks: [realClocks] });
