/**
 * A re-armable timer on the stack's clock. Each connection has up to four of
 * these (retransmit/persist, delayed ACK, cork, and one for keepalive / FIN-WAIT-2 /
 * TIME-WAIT), created on first use and re-armed after: no timer object per
 * segment (STYLE.md principle 6).
 */
import type { Clock, Timer } from "../../tcpip/clock.ts";

export class EndpointTimer {
  private t: Timer | undefined;
  /** Absolute deadline on the clock, when pending. */
  deadline = 0;

  constructor(
    private readonly clock: Clock,
    private readonly fire: () => void,
  ) {}

  arm(delayMs: number): void {
    this.deadline = this.clock.now() + delayMs;
    if (this.t) this.t.reset(delayMs);
    else this.t = this.clock.afterFunc(delayMs, this.fire);
  }

  /** Arms only if not already pending. */
  armIfIdle(delayMs: number): void {
    if (!this.pending) this.arm(delayMs);
  }

  stop(): void {
    this.t?.stop();
  }

  get pending(): boolean {
    return this.t?.pending ?? false;
  }
}
