import { ERRNO, PollFds, poll } from "../rawfile/index.ts";

/** An fd polled "hot" on the main thread (see `FdEndpointOptions.hotMs`). */
export interface HotMember {
  readonly fd: number;
  /** Events to poll for (POLLIN). */
  readonly hotEvents: number;
  /**
   * Called after each poll of the turn with the fd's `revents` (0: nothing came), or with
   * `pollFailed` when poll(2) itself failed. Returns whether to stay in the poller.
   */
  hotTurn(revents: number, pollFailed: boolean): boolean;
}

/**
 * One poll(2) per event-loop turn for every hot fd of this thread: the thread
 * blocks in the kernel for at most `timeoutMs` (so timers and other I/O of the
 * event loop still turn), and the kernel wakes it as soon as any fd is
 * readable. Shared, so two hot links wait together instead of taking turns
 * blocking (a packet on one would otherwise wait out the other's timeout).
 */
export class HotPoller {
  private members: HotMember[] = [];
  /** The pollfd array for `members`, rebuilt when they change (not per turn). */
  private fds: PollFds | undefined;
  private scheduled = false;
  private inTurn = false;

  constructor(private readonly timeoutMs: number) {}

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
    if (this.members.length > 0) this.turn();
    if (this.members.length > 0) this.schedule();
  };

  private turn(): void {
    const members = this.members.slice();
    let fds = this.fds;
    if (!fds) {
      fds = new PollFds(members.length);
      for (let i = 0; i < members.length; i++) fds.set(i, members[i]!.fd, members[i]!.hotEvents);
      this.fds = fds;
    }
    const r = poll(fds, this.timeoutMs);
    const failed = r < 0 && r !== -ERRNO.EINTR;
    this.inTurn = true;
    try {
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
 * Longest block in one hot poll (ms): the event loop (timers, the REST server) turns at least
 * this often while a link is hot. A packet ends the block at once, whatever the timeout.
 */
export const HOT_POLL_MS = 1;

/** The poller of this thread (a Worker has its own module instance). */
export const hotPoller = new HotPoller(HOT_POLL_MS);
