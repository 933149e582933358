/**
 * Test helpers for frame-level links: build an Ethernet II frame (RFC 894)
 * around a payload, and take one apart. For harnesses and link tests only.
 */
import type { LinkAddress } from "../../tcpip/link-address.ts";

/** `dst | src | type | payload`, no padding and no FCS. */
export function ethernetFrame(
  dst: LinkAddress,
  src: LinkAddress,
  type: number,
  payload: Uint8Array,
): Uint8Array {
  const f = new Uint8Array(14 + payload.length);
  f.set(dst.bytes, 0);
  f.set(src.bytes, 6);
  f[12] = (type >>> 8) & 0xff;
  f[13] = type & 0xff;
  f.set(payload, 14);
  return f;
}

/** The fields of a frame of at least 14 bytes (views, no copy), or `undefined` if shorter. */
export function parseEthernetFrame(
  frame: Uint8Array,
): { dst: Uint8Array; src: Uint8Array; type: number; payload: Uint8Array } | undefined {
  if (frame.length < 14) return undefined;
  return {
    dst: frame.subarray(0, 6),
    src: frame.subarray(6, 12),
    type: (frame[12]! << 8) | frame[13]!,
    payload: frame.subarray(14),
  };
}
