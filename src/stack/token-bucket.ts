/**
 * A token bucket for rate limiting ICMP errors (RFC 4443 §2.4(f): "a token
 * bucket ... allows up to B error messages to be transmitted in a burst, but
 * limits the average rate to N"). IPv4 uses it too, like Linux's
 * `icmp_ratelimit` / `icmp_msgs_per_sec` and `icmp_msgs_burst`.
 */
import type { Clock } from "../tcpip/clock.ts";

export class TokenBucket {
  private tokens: number;
  private last: number;
  private max: number;

  /** `ratePerSecond` tokens are added each second up to `burst`. */
  constructor(
    private readonly clock: Clock,
    public ratePerSecond = 1000,
    burst = 50,
  ) {
    this.max = burst;
    this.tokens = burst;
    this.last = clock.now();
  }

  get burst(): number {
    return this.max;
  }

  /** Changing the burst also caps the tokens held now. */
  set burst(n: number) {
    this.max = n;
    this.tokens = Math.min(this.tokens, n);
  }

  /** Takes one token; false when the bucket is empty (the message is not sent). */
  take(): boolean {
    const now = this.clock.now();
    const elapsed = now - this.last;
    if (elapsed > 0) {
      this.tokens = Math.min(this.max, this.tokens + (elapsed * this.ratePerSecond) / 1000);
      this.last = now;
    }
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
