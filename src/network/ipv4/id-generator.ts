/**
 * IPv4 Identification values (RFC 6864 §4.2, §5.1): unique per (source,
 * destination, protocol) for the datagram's lifetime, and not predictable
 * across flows. Like Linux's `ip_idents`, a keyed hash of the triple picks
 * one of 2048 counters; each counter starts at a random value.
 */
import type { Random } from "../../tcpip/random.ts";

const BUCKETS = 2048;

export class IdGenerator {
  private readonly counters = new Uint16Array(BUCKETS);
  private readonly key: number;

  constructor(random: Random) {
    this.key = random.u32();
    for (let i = 0; i < BUCKETS; i++) this.counters[i] = random.u32() & 0xffff;
  }

  /** The next ID for datagrams from `src` to `dst` (IPv4 addresses as 32-bit numbers) carrying `proto`. */
  next(src: number, dst: number, proto: number): number {
    let h = Math.imul(src ^ this.key, 0x9e3779b1);
    h = Math.imul(h ^ (h >>> 15) ^ dst, 0x85ebca6b);
    h = Math.imul(h ^ (h >>> 13) ^ proto, 0xc2b2ae35);
    h ^= h >>> 16;
    const i = h & (BUCKETS - 1);
    const v = this.counters[i]!;
    this.counters[i] = v + 1;
    return v;
  }
}
