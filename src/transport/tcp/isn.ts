/**
 * Initial sequence numbers per RFC 6528 §3:
 * "ISN = M + F(localip, localport, remoteip, remoteport, secretkey)
 *  where M is the 4 microsecond timer, and F() is a pseudorandom function
 *  (PRF) of the connection-id." F is HalfSipHash keyed with a per-stack secret.
 */

import { halfSipHash } from "../../ports/halfsiphash.ts";
import type { Address } from "../../tcpip/address.ts";
import type { Random } from "../../tcpip/random.ts";

/** Packs an address and two ports into 32-bit words for hashing. */
export function tupleWords(
  out: number[],
  local: Address,
  localPort: number,
  remote: Address,
  remotePort: number,
): number[] {
  out.length = 0;
  pushAddress(out, local);
  pushAddress(out, remote);
  out.push(((localPort << 16) | remotePort) >>> 0);
  return out;
}

function pushAddress(out: number[], a: Address): void {
  const b = a.bytes;
  for (let i = 0; i + 3 < b.length; i += 4)
    out.push(((b[i]! << 24) | (b[i + 1]! << 16) | (b[i + 2]! << 8) | b[i + 3]!) >>> 0);
}

export class IsnGenerator {
  private readonly k0: number;
  private readonly k1: number;
  private readonly words: number[] = [];

  constructor(random: Random) {
    this.k0 = random.u32();
    this.k1 = random.u32();
  }

  /** RFC 6528 §3 ISN for the 4-tuple at `nowMs` on the stack clock. */
  isn(local: Address, localPort: number, remote: Address, remotePort: number, nowMs: number): number {
    const f = halfSipHash(this.k0, this.k1, tupleWords(this.words, local, localPort, remote, remotePort));
    // M: "the 4 microsecond timer" — 250 ticks per millisecond.
    const m = Math.floor(nowMs * 250) >>> 0;
    return (f + m) >>> 0;
  }

  /** A per-connection timestamp offset (RFC 7323 §5.4 recommends randomizing the TSval start). */
  tsOffset(local: Address, localPort: number, remote: Address, remotePort: number): number {
    const w = tupleWords(this.words, local, localPort, remote, remotePort);
    w.push(0x7473);
    return halfSipHash(this.k1, this.k0, w);
  }
}
