/**
 * Option negotiation (RFC 9293 §3.7.1 MSS, RFC 7323 §2.2/§3.2 window scale and
 * timestamps, RFC 2018 §2 SACK-permitted) and the options of our SYN and
 * SYN-ACK. The header encoder lays them out as Linux does: MSS, SACK_PERM,
 * TS, NOP, WSCALE.
 */
import type { TcpOptionFields, TcpOptions } from "../../header/tcp.ts";
import type { TcpEndpoint } from "./endpoint.ts";

/** RFC 9293 §3.7.1: "the default ... is 536" for IPv4; RFC 8200 §8.3: 1220 for IPv6 (1280 - 60). */
export function defaultMss(addressLength: number): number {
  return addressLength === 16 ? 1220 : 536;
}

/** Smallest MSS we accept from a peer (Linux clamps at TCP_MIN_SND_MSS = 48; we use RFC 879's 88-byte floor less headers). */
const MIN_MSS = 64;

/** Takes the peer's SYN options; returns nothing, sets what both sides agreed. */
export function negotiate(ep: TcpEndpoint, peer: TcpOptions): void {
  const o = ep.opts;
  const r = ep.rcv;
  const s = ep.snd;
  let mss = peer.mss > 0 ? peer.mss : defaultMss(ep.id.remoteAddress?.length ?? 4);
  // Clamp to what the route carries: never send a segment larger than the path MTU allows.
  if (ep.route) mss = Math.min(mss, ep.route.mtu - 20);
  s.mss = Math.max(MIN_MSS, mss);
  // RFC 7323 §2.2: scaling is on only if both sides sent the option; otherwise both shifts are 0.
  if (o.windowScaling && peer.windowScale >= 0) {
    s.scale = peer.windowScale;
    r.scale = r.offeredScale;
    r.wsEnabled = true;
  } else {
    s.scale = 0;
    r.scale = 0;
    r.wsEnabled = false;
  }
  // RFC 7323 §3.2: timestamps are used only if both SYNs carried them.
  r.tsEnabled = o.timestamps && peer.timestamp;
  if (r.tsEnabled) {
    r.tsRecent = peer.tsVal;
    r.tsRecentTime = ep.now();
  }
  // RFC 2018 §2: SACK-permitted "MUST NOT be sent on non-SYN segments" and is on only when both offered.
  r.sackEnabled = o.sack && peer.sackPermitted;
}

/**
 * Options for our SYN (everything enabled) or SYN-ACK: RFC 7323 §2.2 "[a TCP] MAY send the Window Scale
 * option in a <SYN,ACK> segment only if the corresponding option was received in the initial <SYN>",
 * and likewise for timestamps (RFC 7323 §3.2) and SACK-permitted (RFC 2018 §2).
 */
export function synOptions(ep: TcpEndpoint, synAck: boolean): TcpOptionFields {
  const o = ep.opts;
  const r = ep.rcv;
  const f: TcpOptionFields = { mss: ep.advertisedMss() };
  if (!synAck) {
    if (o.windowScaling) f.windowScale = r.offeredScale;
    if (o.sack) f.sackPermitted = true;
    if (o.timestamps) {
      f.timestamp = true;
      f.tsVal = ep.tsNow();
      f.tsEcr = 0;
    }
    return f;
  }
  if (r.wsEnabled) f.windowScale = r.offeredScale;
  if (r.sackEnabled) f.sackPermitted = true;
  if (r.tsEnabled) {
    f.timestamp = true;
    f.tsVal = ep.tsNow();
    f.tsEcr = r.tsRecent;
  }
  return f;
}
