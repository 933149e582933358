/**
 * Byte layouts the IPv6 layer reads and writes: the fixed header (RFC 8200 §3),
 * extension headers (§4), ICMPv6 (RFC 4443 §2.1) and NDP messages and options
 * (RFC 4861 §4, §4.6). Private to src/network/ipv6 until src/header/ipv6.ts,
 * ipv6-extension.ts and icmpv6.ts land (docs/HEADER-API.md); the names follow
 * that document so the switch is an import change.
 */
import { Address } from "../../tcpip/address.ts";
import { LinkAddress } from "../../tcpip/link-address.ts";

export const IPV6_HEADER_SIZE = 40;
export const IPV6_PAYLOAD_LENGTH_OFFSET = 4;
export const IPV6_NEXT_HEADER_OFFSET = 6;
export const IPV6_HOP_LIMIT_OFFSET = 7;
export const IPV6_SRC_OFFSET = 8;
export const IPV6_DST_OFFSET = 24;
/** RFC 8200 §5: "every link in the Internet [must] have an MTU of 1280 octets or greater". */
export const IPV6_MINIMUM_MTU = 1280;

// Next Header values (RFC 8200 §4, IANA).
export const IPV6_HOP_BY_HOP = 0;
export const IPV6_ROUTING = 43;
export const IPV6_FRAGMENT = 44;
export const IPV6_NO_NEXT_HEADER = 59;
export const IPV6_DESTINATION_OPTIONS = 60;
export const IPV6_FRAGMENT_HEADER_SIZE = 8;

// Options (RFC 8200 §4.2).
export const IPV6_OPTION_PAD1 = 0;
export const IPV6_OPTION_PADN = 1;
/** RFC 2711 router alert (MLD uses it); recognised and ignored by hosts. */
export const IPV6_OPTION_ROUTER_ALERT = 5;

// ICMPv6 types (RFC 4443 §2.1, RFC 4861 §4).
export const ICMPV6_DST_UNREACHABLE = 1;
export const ICMPV6_PACKET_TOO_BIG = 2;
export const ICMPV6_TIME_EXCEEDED = 3;
export const ICMPV6_PARAM_PROBLEM = 4;
export const ICMPV6_ECHO_REQUEST = 128;
export const ICMPV6_ECHO_REPLY = 129;
export const ICMPV6_ROUTER_SOLICIT = 133;
export const ICMPV6_ROUTER_ADVERT = 134;
export const ICMPV6_NEIGHBOR_SOLICIT = 135;
export const ICMPV6_NEIGHBOR_ADVERT = 136;
export const ICMPV6_REDIRECT = 137;
export const ICMPV6_HEADER_SIZE = 8;

// Codes (RFC 4443 §3).
export const ICMPV6_NO_ROUTE = 0;
export const ICMPV6_ADMIN_PROHIBITED = 1;
export const ICMPV6_ADDRESS_UNREACHABLE = 3;
export const ICMPV6_PORT_UNREACHABLE = 4;
export const ICMPV6_HOP_LIMIT_EXCEEDED = 0;
export const ICMPV6_REASSEMBLY_TIMEOUT = 1;
export const ICMPV6_ERRONEOUS_HEADER = 0;
export const ICMPV6_UNKNOWN_NEXT_HEADER = 1;
export const ICMPV6_UNKNOWN_OPTION = 2;

// NDP (RFC 4861 §4).
export const NDP_NS_SIZE = 24;
export const NDP_NA_SIZE = 24;
export const NDP_RS_SIZE = 8;
export const NDP_RA_SIZE = 16;
export const NDP_NA_ROUTER = 0x80;
export const NDP_NA_SOLICITED = 0x40;
export const NDP_NA_OVERRIDE = 0x20;
export const NDP_OPT_SOURCE_LINK_ADDRESS = 1;
export const NDP_OPT_TARGET_LINK_ADDRESS = 2;
export const NDP_OPT_PREFIX_INFO = 3;
export const NDP_OPT_MTU = 5;
export const NDP_PREFIX_ON_LINK = 0x80;
export const NDP_PREFIX_AUTONOMOUS = 0x40;

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

/** A view over the fixed IPv6 header (RFC 8200 §3). */
export class Ipv6Header {
  constructor(
    readonly b: Uint8Array,
    readonly off: number,
  ) {}
  /** Whether `len` bytes hold a version-6 header. The payload length is checked by the caller against the link length. */
  isValid(len: number): boolean {
    return len >= IPV6_HEADER_SIZE && this.b.length - this.off >= IPV6_HEADER_SIZE && this.version === 6;
  }
  get version(): number {
    return this.b[this.off]! >> 4;
  }
  get trafficClass(): number {
    return (readU16(this.b, this.off) >> 4) & 0xff;
  }
  get flowLabel(): number {
    return readU32(this.b, this.off) & 0xfffff;
  }
  get payloadLength(): number {
    return readU16(this.b, this.off + IPV6_PAYLOAD_LENGTH_OFFSET);
  }
  get nextHeader(): number {
    return this.b[this.off + IPV6_NEXT_HEADER_OFFSET]!;
  }
  get hopLimit(): number {
    return this.b[this.off + IPV6_HOP_LIMIT_OFFSET]!;
  }
  srcAddress(): Address {
    return Address.fromBytes(this.b, this.off + IPV6_SRC_OFFSET, 16);
  }
  dstAddress(): Address {
    return Address.fromBytes(this.b, this.off + IPV6_DST_OFFSET, 16);
  }
}

export interface Ipv6Fields {
  trafficClass?: number;
  flowLabel?: number;
  payloadLength: number;
  nextHeader: number;
  hopLimit: number;
  src: Address;
  dst: Address;
}

export function encodeIpv6(b: Uint8Array, off: number, f: Ipv6Fields): number {
  const tc = f.trafficClass ?? 0;
  writeU32(b, off, ((6 << 28) | ((tc & 0xff) << 20) | ((f.flowLabel ?? 0) & 0xfffff)) >>> 0);
  writeU16(b, off + IPV6_PAYLOAD_LENGTH_OFFSET, f.payloadLength);
  b[off + IPV6_NEXT_HEADER_OFFSET] = f.nextHeader;
  b[off + IPV6_HOP_LIMIT_OFFSET] = f.hopLimit;
  b.set(f.src.bytes, off + IPV6_SRC_OFFSET);
  b.set(f.dst.bytes, off + IPV6_DST_OFFSET);
  return IPV6_HEADER_SIZE;
}

/** The Fragment header (RFC 8200 §4.5). */
export class Ipv6FragmentHeader {
  constructor(
    readonly b: Uint8Array,
    readonly off: number,
  ) {}
  get nextHeader(): number {
    return this.b[this.off]!;
  }
  /** Offset in bytes (the field counts 8-octet units). */
  get fragmentOffset(): number {
    return readU16(this.b, this.off + 2) & 0xfff8;
  }
  get more(): boolean {
    return (this.b[this.off + 3]! & 1) === 1;
  }
  get id(): number {
    return readU32(this.b, this.off + 4);
  }
}

export function encodeIpv6Fragment(
  b: Uint8Array,
  off: number,
  f: { nextHeader: number; fragmentOffset: number; more: boolean; id: number },
): number {
  b[off] = f.nextHeader;
  b[off + 1] = 0;
  writeU16(b, off + 2, (f.fragmentOffset & 0xfff8) | (f.more ? 1 : 0));
  writeU32(b, off + 4, f.id);
  return IPV6_FRAGMENT_HEADER_SIZE;
}

/** RFC 4291 §2.7.1: ff02::1:ffXX:XXXX from the low 24 bits of `addr`. */
export function solicitedNodeAddress(addr: Address): Address {
  const b = Uint8Array.of(0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0, 0, 0);
  b[13] = addr.bytes[13]!;
  b[14] = addr.bytes[14]!;
  b[15] = addr.bytes[15]!;
  return Address.fromBytes(b);
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
