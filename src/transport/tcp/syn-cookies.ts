/**
 * SYN cookies (RFC 4987 §3.6): when the SYN queue is full, the listener keeps
 * no state and encodes what it needs in its ISN:
 *
 *     ISN = H1(4-tuple) + peer ISN + (count << 24) + ((H2(4-tuple, count) + mssIndex) mod 2^24)
 *
 * where `count` is a 64-second counter (Linux uses one-minute periods). The
 * peer's ACK returns ISN + 1, from which the listener recovers `count` (must
 * be recent) and the MSS index. When the peer sent timestamps, window scale
 * and SACK-permitted ride in the low 6 bits of our TSval (as Linux does), so
 * the ACK's TSecr brings them back.
 */

import { halfSipHash } from "../../ports/halfsiphash.ts";
import type { Address } from "../../tcpip/address.ts";
import type { Random } from "../../tcpip/random.ts";
import { tupleWords } from "./isn.ts";

/** MSS values a cookie can carry (3 bits). */
export const COOKIE_MSS_TABLE = [536, 1220, 1300, 1440, 1460, 4312, 8960] as const;
const COUNTER_PERIOD_MS = 64_000;
/** Cookies older than this many periods are refused. */
const MAX_AGE = 2;
/** The low TSval bits that carry options: 4 bits window scale (15 = none), 1 bit SACK. */
const TS_OPTION_BITS = 6;
const TS_MASK = (1 << TS_OPTION_BITS) - 1;
const NO_WSCALE = 0xf;

export interface CookieOptions {
  mss: number;
  /** -1 when the peer did not send window scale or it could not be encoded. */
  windowScale: number;
  sackPermitted: boolean;
}

export class SynCookies {
  private readonly k0: number;
  private readonly k1: number;
  private readonly k2: number;
  private readonly k3: number;
  private readonly words: number[] = [];

  constructor(random: Random) {
    this.k0 = random.u32();
    this.k1 = random.u32();
    this.k2 = random.u32();
    this.k3 = random.u32();
  }

  private h1(local: Address, lp: number, remote: Address, rp: number): number {
    return halfSipHash(this.k0, this.k1, tupleWords(this.words, local, lp, remote, rp));
  }

  private h2(local: Address, lp: number, remote: Address, rp: number, count: number): number {
    const w = tupleWords(this.words, local, lp, remote, rp);
    w.push(count);
    return halfSipHash(this.k2, this.k3, w);
  }

  /** The index of the largest table MSS not above `mss`. */
  static mssIndex(mss: number): number {
    let idx = 0;
    for (let i = 0; i < COOKIE_MSS_TABLE.length; i++) if (COOKIE_MSS_TABLE[i]! <= mss) idx = i;
    return idx;
  }

  /** Our ISN for a SYN with sequence `peerIsn` and MSS option `peerMss` (536 when absent). */
  make(
    local: Address,
    lp: number,
    remote: Address,
    rp: number,
    peerIsn: number,
    peerMss: number,
    nowMs: number,
  ): number {
    const count = Math.floor(nowMs / COUNTER_PERIOD_MS) & 0xff;
    const idx = SynCookies.mssIndex(peerMss);
    const low = (this.h2(local, lp, remote, rp, count) + idx) & 0xffffff;
    return (this.h1(local, lp, remote, rp) + peerIsn + count * 0x1000000 + low) >>> 0;
  }

  /**
   * Checks the cookie in an ACK: `cookie` is SEG.ACK - 1 and `peerIsn` is SEG.SEQ - 1.
   * Returns the MSS it carries, or 0 when the cookie is not valid.
   */
  check(
    local: Address,
    lp: number,
    remote: Address,
    rp: number,
    cookie: number,
    peerIsn: number,
    nowMs: number,
  ): number {
    const diff = (cookie - this.h1(local, lp, remote, rp) - peerIsn) >>> 0;
    const count = diff >>> 24;
    const now = Math.floor(nowMs / COUNTER_PERIOD_MS) & 0xff;
    if (((now - count) & 0xff) > MAX_AGE) return 0;
    const idx = (diff - this.h2(local, lp, remote, rp, count)) & 0xffffff;
    return idx < COOKIE_MSS_TABLE.length ? COOKIE_MSS_TABLE[idx]! : 0;
  }

  /** Our TSval carrying window scale and SACK-permitted in its low bits, never ahead of `tsNow`. */
  static encodeTimestamp(tsNow: number, windowScale: number, sackPermitted: boolean): number {
    const ws = windowScale >= 0 && windowScale < NO_WSCALE ? windowScale : NO_WSCALE;
    const opts = ws | (sackPermitted ? 0x10 : 0);
    let ts = ((tsNow & ~TS_MASK) | opts) >>> 0;
    if (((ts - tsNow) | 0) > 0) ts = (ts - (TS_MASK + 1)) >>> 0;
    return ts;
  }

  static decodeTimestamp(tsEcr: number): { windowScale: number; sackPermitted: boolean } {
    const ws = tsEcr & 0xf;
    return { windowScale: ws === NO_WSCALE ? -1 : ws, sackPermitted: (tsEcr & 0x10) !== 0 };
  }
}
