/**
 * What the IPv6 layer needs of the wire formats, in one place: the header
 * views and constants of src/header (ipv6.ts, ipv6-extension.ts, icmpv6.ts),
 * plus the address helpers of RFC 4291 (modified EUI-64, solicited-node) and a
 * small NDP option walker (RFC 4861 §4.6).
 */
import { Address } from "../../tcpip/address.ts";
import { LinkAddress } from "../../tcpip/link-address.ts";

export {
  ICMPV6_ADDRESS_UNREACHABLE,
  ICMPV6_ADMIN_PROHIBITED,
  ICMPV6_DST_UNREACHABLE,
  ICMPV6_ECHO_REPLY,
  ICMPV6_ECHO_REQUEST,
  ICMPV6_ERRONEOUS_HEADER,
  ICMPV6_HEADER_SIZE,
  ICMPV6_HOP_LIMIT_EXCEEDED,
  ICMPV6_NEIGHBOR_ADVERT,
  ICMPV6_NEIGHBOR_SOLICIT,
  ICMPV6_NO_ROUTE,
  ICMPV6_PACKET_TOO_BIG,
  ICMPV6_PARAM_PROBLEM,
  ICMPV6_PORT_UNREACHABLE,
  ICMPV6_REASSEMBLY_TIMEOUT,
  ICMPV6_REDIRECT,
  ICMPV6_ROUTER_ADVERT,
  ICMPV6_ROUTER_SOLICIT,
  ICMPV6_TIME_EXCEEDED,
  ICMPV6_UNKNOWN_NEXT_HEADER,
  ICMPV6_UNKNOWN_OPTION,
  NDP_NA_OVERRIDE,
  NDP_NA_ROUTER,
  NDP_NA_SIZE,
  NDP_NA_SOLICITED,
  NDP_NS_SIZE,
  NDP_OPT_MTU,
  NDP_OPT_PREFIX_INFO,
  NDP_OPT_SOURCE_LINK_ADDRESS,
  NDP_OPT_TARGET_LINK_ADDRESS,
  NDP_PREFIX_AUTONOMOUS,
  NDP_PREFIX_ON_LINK,
  NDP_RA_SIZE,
  NDP_REDIRECT_SIZE,
  NDP_RS_SIZE,
} from "../../header/icmpv6.ts";
export {
  encodeIpv6,
  IPV6_DST_OFFSET,
  IPV6_HEADER_SIZE,
  IPV6_HOP_LIMIT_OFFSET,
  IPV6_MINIMUM_MTU,
  IPV6_NEXT_HEADER_OFFSET,
  IPV6_PAYLOAD_LENGTH_OFFSET,
  IPV6_SRC_OFFSET,
  type Ipv6Fields,
  Ipv6Header,
  solicitedNodeAddress,
} from "../../header/ipv6.ts";
export {
  encodeIpv6Fragment,
  IPV6_DESTINATION_OPTIONS,
  IPV6_FRAGMENT,
  IPV6_FRAGMENT_HEADER_SIZE,
  IPV6_HOP_BY_HOP,
  IPV6_NO_NEXT_HEADER,
  IPV6_OPTION_PAD1,
  IPV6_OPTION_PADN,
  IPV6_OPTION_ROUTER_ALERT,
  IPV6_ROUTING,
  Ipv6FragmentHeader,
} from "../../header/ipv6-extension.ts";

export function readU16(b: Uint8Array, o: number): number {
  return (b[o]! << 8) | b[o + 1]!;
}
export function readU32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}
export function writeU16(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 8) & 0xff;
  b[o + 1] = v & 0xff;
}
export function writeU32(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 24) & 0xff;
  b[o + 1] = (v >>> 16) & 0xff;
  b[o + 2] = (v >>> 8) & 0xff;
  b[o + 3] = v & 0xff;
}

export function isSolicitedNode(addr: Address): boolean {
  const b = addr.bytes;
  if (b.length !== 16 || b[0] !== 0xff || b[1] !== 2 || b[11] !== 1 || b[12] !== 0xff) return false;
  for (let i = 2; i < 11; i++) if (b[i] !== 0) return false;
  return true;
}

/** RFC 4291 Appendix A: the modified EUI-64 interface identifier of a 48-bit MAC (ff:fe inserted, U/L bit inverted). */
export function interfaceIdFromMac(mac: LinkAddress): Uint8Array {
  const m = mac.bytes;
  return Uint8Array.of(m[0]! ^ 0x02, m[1]!, m[2]!, 0xff, 0xfe, m[3]!, m[4]!, m[5]!);
}

/** The address `prefix` (first 64 bits) + `iid` (last 64 bits). */
export function addressFromPrefix(prefix: Address, iid: Uint8Array): Address {
  const b = new Uint8Array(16);
  b.set(prefix.bytes.subarray(0, 8), 0);
  b.set(iid.subarray(0, 8), 8);
  return Address.fromBytes(b);
}

/** fe80::/64 + modified EUI-64 of `mac` (RFC 4862 §5.3). */
export function linkLocalFromMac(mac: LinkAddress): Address {
  const b = new Uint8Array(16);
  b[0] = 0xfe;
  b[1] = 0x80;
  b.set(interfaceIdFromMac(mac), 8);
  return Address.fromBytes(b);
}

/** A parsed NDP option (RFC 4861 §4.6); `off` is where the option starts, `len` its length in bytes. */
export interface NdpOption {
  type: number;
  off: number;
  len: number;
}

/**
 * Walks NDP options in `b[off, end)`. Returns undefined if any option has
 * length 0 or runs past the end (RFC 4861 §7.1.1, §7.1.2, §6.1.2: "All
 * included options have a length that is greater than zero").
 */
export function parseNdpOptions(b: Uint8Array, off: number, end: number): NdpOption[] | undefined {
  const out: NdpOption[] = [];
  while (off < end) {
    if (off + 2 > end) return undefined;
    const len = b[off + 1]! * 8;
    if (len === 0 || off + len > end) return undefined;
    out.push({ type: b[off]!, off, len });
    off += len;
  }
  return out;
}

/** The link address in a source/target link-layer address option (RFC 4861 §4.6.1). */
export function optionLinkAddress(b: Uint8Array, o: NdpOption, size = 6): LinkAddress | undefined {
  if (o.len < 2 + size) return undefined;
  return LinkAddress.fromBytes(b, o.off + 2, size);
}

/** Writes a link-layer address option; returns its length (padded to 8 bytes). */
export function encodeLinkAddressOption(b: Uint8Array, off: number, type: number, la: LinkAddress): number {
  const len = Math.ceil((2 + la.length) / 8) * 8;
  b.fill(0, off, off + len);
  b[off] = type;
  b[off + 1] = len / 8;
  b.set(la.bytes, off + 2);
  return len;
}
