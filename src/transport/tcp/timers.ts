/**
 * A re-armable timer on the stack's clock. Each connection has up to four of
 * these (retransmit/persist, delayed ACK, cork, and one for keepalive / FIN-WAIT-2 /
 * TIME-WAIT), created on first use and re-armed after: no timer object per
 * segment (STYLE.md principle 6).
 *
 * Re-arming for a later deadline is lazy (issue 10): the retransmission timer
 * is re-armed on every ACK of new data (RFC 6298 §5.3), and the probe timeout
 * after it, each a removal and an insertion in the clock's heap and two clock
 * reads. Instead the clock's timer keeps its earlier place, the new deadline
 * is noted, and when the clock's timer fires before that deadline it is set
 * again for the rest (as Linux's `sk_reset_timer` callers and gVisor's timers
 * re-check the deadline when they fire). An earlier deadline, `stop` and a
 * first `arm` go to the clock at once.
 */
import type { Clock, Timer } from "../../tcpip/clock.ts";

/** Where a timer reads the time for its deadlines (the endpoint: the clock, read once per link batch). */
export interface TimeSource {
  now(): number;
}

export class EndpointTimer {
  private t: Timer | undefined;
  /** Absolute deadline on the clock, when pending. */
  deadline = 0;
  /** Whether the timer is armed: it fires at `deadline`. */
  private armed = false;
  /** The deadline the clock's timer was last set for (at or before `deadline` while armed). */
  private at = 0;
  private readonly time: TimeSource;

  constructor(
    private readonly clock: Clock,
    private readonly fire: () => void,
    time?: TimeSource,
  ) {
    this.time = time ?? clock;
  }

  arm(delayMs: number): void {
    const deadline = this.time.now() + delayMs;
    this.deadline = deadline;
    this.armed = true;
    const t = this.t;
    if (t?.pending && this.at <= deadline) return;
    this.at = deadline;
    if (t !== undefined) t.reset(delayMs);
    else this.t = this.clock.afterFunc(delayMs, this.onFire);
  }

  /** Arms only if not already pending. */
  armIfIdle(delayMs: number): void {
    if (!this.armed) this.arm(delayMs);
  }

  stop(): void {
    this.armed = false;
    this.t?.stop();
  }

  get pending(): boolean {
    return this.armed;
  }

  private readonly onFire = (): void => {
    if (!this.armed) return;
    const now = this.clock.now();
    if (now < this.deadline) {
      // Re-armed for later since the clock's timer was set: wait for the rest.
      this.at = this.deadline;
      this.t!.reset(this.deadline - now);
      return;
    }
    this.armed = false;
    this.fire();
  };
}
