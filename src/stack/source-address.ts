/**
 * Source address selection. IPv6 follows RFC 6724 §5 (the rules that apply
 * to a single-NIC candidate set: same address, appropriate scope, avoid
 * deprecated, longest matching prefix); IPv4 prefers an address whose subnet
 * holds the destination, then the first added.
 */
import type { Address } from "../tcpip/address.ts";

export interface CandidateAddress {
  readonly address: Address;
  readonly prefixLen: number;
  readonly tentative?: boolean;
  readonly deprecated?: boolean;
}

/** RFC 6724 §3.1 scope of an address: 0x2 link-local, 0x5 site-local, 0xe global. */
export function addressScope(a: Address): number {
  const b = a.bytes;
  if (a.is4) {
    // RFC 6724 §3.2: IPv4 loopback and link-local (169.254/16) map to link-local scope, others global.
    if (b[0] === 127 || (b[0] === 169 && b[1] === 254)) return 2;
    return 14;
  }
  if (b[0] === 0xff) return b[1]! & 0x0f;
  if (a.isLinkLocalUnicast || a.isLoopback) return 2;
  // fec0::/10, deprecated site-local (RFC 3879).
  if (b[0] === 0xfe && (b[1]! & 0xc0) === 0xc0) return 5;
  return 14;
}

/** Number of leading bits `a` and `b` share (RFC 6724 §2.2 CommonPrefixLen). */
export function commonPrefixLength(a: Address, b: Address): number {
  const n = Math.min(a.length, b.length);
  let bits = 0;
  for (let i = 0; i < n; i++) {
    const x = a.bytes[i]! ^ b.bytes[i]!;
    if (x === 0) {
      bits += 8;
      continue;
    }
    return bits + Math.clz32(x) - 24;
  }
  return bits;
}

function inPrefix(c: CandidateAddress, dst: Address): boolean {
  return commonPrefixLength(c.address, dst) >= c.prefixLen;
}

/** The best source among `candidates` for `dst` (or the first usable one when `dst` is undefined). */
export function selectSourceAddress(
  candidates: readonly CandidateAddress[],
  dst: Address | undefined,
): Address | undefined {
  let best: CandidateAddress | undefined;
  for (const c of candidates) {
    if (c.tentative) continue;
    if (dst && c.address.length !== dst.length) continue;
    if (!best) {
      best = c;
      continue;
    }
    if (dst && better(c, best, dst)) best = c;
  }
  return best?.address;
}

/** Whether `a` is a better source than `b` for `dst`. */
function better(a: CandidateAddress, b: CandidateAddress, dst: Address): boolean {
  if (dst.is4) {
    const ia = inPrefix(a, dst);
    const ib = inPrefix(b, dst);
    if (ia !== ib) return ia;
    return false;
  }
  // Rule 1: prefer same address.
  if (a.address.equals(dst)) return true;
  if (b.address.equals(dst)) return false;
  // Rule 2: prefer appropriate scope.
  const sa = addressScope(a.address);
  const sb = addressScope(b.address);
  const sd = addressScope(dst);
  if (sa !== sb) {
    if (sa < sb) return sa >= sd;
    return sb < sd;
  }
  // Rule 3: avoid deprecated addresses.
  if (!!a.deprecated !== !!b.deprecated) return !a.deprecated;
  // Rule 8: use longest matching prefix. RFC 6724 §2.2 counts CommonPrefixLen(S, D) "up to the
  // length of S's prefix (i.e., the portion of the address not including the interface ID)".
  const pa = Math.min(commonPrefixLength(a.address, dst), a.prefixLen);
  const pb = Math.min(commonPrefixLength(b.address, dst), b.prefixLen);
  return pa > pb;
}
