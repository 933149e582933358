/**
 * ICMPv6 (RFC 4443) and Neighbor Discovery messages and options (RFC 4861).
 *
 * Every view here takes `off` at the ICMPv6 Type byte. The checksum covers
 * the RFC 8200 §8.1 pseudo-header (next header 58): use `icmpv6Checksum`.
 *
 *     0                   1                   2                   3
 *    |     Type      |     Code      |          Checksum             |
 *    |                         Message Body                          |
 */
import { Address } from "../tcpip/address.ts";
import { LinkAddress } from "../tcpip/link-address.ts";
import { readU16, readU32, writeU16, writeU32 } from "./bytes.ts";
import { checksum, finishChecksum, pseudoHeaderChecksum } from "./checksum.ts";

export const ICMPV6_TYPE_OFFSET = 0;
export const ICMPV6_CODE_OFFSET = 1;
export const ICMPV6_CHECKSUM_OFFSET = 2;
export const ICMPV6_IDENT_OFFSET = 4;
export const ICMPV6_SEQUENCE_OFFSET = 6;
export const ICMPV6_MTU_OFFSET = 4;
export const ICMPV6_POINTER_OFFSET = 4;
export const ICMPV6_PAYLOAD_OFFSET = 8;
export const ICMPV6_HEADER_SIZE = 8;
export const ICMPV6_MIN_SIZE = 8;
/** The IPv6 Next Header value of ICMPv6. */
export const ICMPV6_PROTOCOL = 58;

/** Types (RFC 4443 §2.1, RFC 4861 §4). */
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

/** Destination Unreachable codes (RFC 4443 §3.1). */
export const ICMPV6_NO_ROUTE = 0;
export const ICMPV6_ADMIN_PROHIBITED = 1;
export const ICMPV6_BEYOND_SCOPE = 2;
export const ICMPV6_ADDRESS_UNREACHABLE = 3;
export const ICMPV6_PORT_UNREACHABLE = 4;
export const ICMPV6_SOURCE_POLICY_FAILED = 5;
export const ICMPV6_REJECT_ROUTE = 6;
/** Time Exceeded codes (RFC 4443 §3.3). */
export const ICMPV6_HOP_LIMIT_EXCEEDED = 0;
export const ICMPV6_REASSEMBLY_TIMEOUT = 1;
/** Parameter Problem codes (RFC 4443 §3.4). */
export const ICMPV6_ERRONEOUS_HEADER = 0;
export const ICMPV6_UNKNOWN_NEXT_HEADER = 1;
export const ICMPV6_UNKNOWN_OPTION = 2;

/** RFC 4443 §2.4(c): error messages carry "as much of invoking packet as possible without ... exceeding the minimum IPv6 MTU". */
export function isIcmpv6Error(type: number): boolean {
  return type < 128;
}

export interface Icmpv6Fields {
  type: number;
  code: number;
  ident?: number;
  sequence?: number;
  /** Packet Too Big MTU (32 bits, RFC 4443 §3.2). */
  mtu?: number;
  /** Parameter Problem pointer (32 bits, RFC 4443 §3.4). */
  pointer?: number;
  /**
   * When `src` and `dst` are given, the checksum is computed over the pseudo-header,
   * the 8 header bytes and the `payloadLength` bytes already in `b` after them.
   * Otherwise `checksum` (default 0) is written as is.
   */
  src?: Address;
  dst?: Address;
  payloadLength?: number;
  checksum?: number;
}

export class Icmpv6Header {
  constructor(
    readonly b: Uint8Array,
    readonly off: number,
  ) {}

  /** Whether `len` bytes hold the 4-byte type/code/checksum and 4-byte body start (RFC 4443 §2.1). */
  isValid(len: number): boolean {
    return len >= ICMPV6_MIN_SIZE && this.off >= 0 && this.off + ICMPV6_MIN_SIZE <= this.b.length;
  }
  get type(): number {
    return this.b[this.off + ICMPV6_TYPE_OFFSET]!;
  }
  get code(): number {
    return this.b[this.off + ICMPV6_CODE_OFFSET]!;
  }
  get checksum(): number {
    return readU16(this.b, this.off + ICMPV6_CHECKSUM_OFFSET);
  }
  /** Echo identifier (RFC 4443 §4.1). */
  get ident(): number {
    return readU16(this.b, this.off + ICMPV6_IDENT_OFFSET);
  }
  /** Echo sequence number (RFC 4443 §4.1). */
  get sequence(): number {
    return readU16(this.b, this.off + ICMPV6_SEQUENCE_OFFSET);
  }
  /** Packet Too Big MTU (RFC 4443 §3.2). */
  get mtu(): number {
    return readU32(this.b, this.off + ICMPV6_MTU_OFFSET);
  }
  /** Parameter Problem pointer (RFC 4443 §3.4). */
  get pointer(): number {
    return readU32(this.b, this.off + ICMPV6_POINTER_OFFSET);
  }
  /** Absolute offset of the body after the first 8 bytes (echo data or the invoking packet). */
  get payloadOffset(): number {
    return this.off + ICMPV6_PAYLOAD_OFFSET;
  }

  /** Whether the checksum over `len` bytes with the pseudo-header of `src`/`dst` is right (RFC 4443 §2.3). */
  isChecksumValid(len: number, src: Address, dst: Address): boolean {
    return checksum(this.b, this.off, len, pseudoHeaderChecksum(ICMPV6_PROTOCOL, src, dst, len)) === 0xffff;
  }

  setType(v: number): void {
    this.b[this.off + ICMPV6_TYPE_OFFSET] = v;
  }
  setCode(v: number): void {
    this.b[this.off + ICMPV6_CODE_OFFSET] = v;
  }
  setChecksum(v: number): void {
    writeU16(this.b, this.off + ICMPV6_CHECKSUM_OFFSET, v);
  }
}

/** The checksum value for `len` bytes of ICMPv6 message at `off` (its checksum field taken as is; zero it first). */
export function icmpv6Checksum(b: Uint8Array, off: number, len: number, src: Address, dst: Address): number {
  return finishChecksum(checksum(b, off, len, pseudoHeaderChecksum(ICMPV6_PROTOCOL, src, dst, len)));
}

/** Zeroes the checksum field of the message at `off`, computes and stores it. */
export function setIcmpv6Checksum(b: Uint8Array, off: number, len: number, src: Address, dst: Address): void {
  writeU16(b, off + ICMPV6_CHECKSUM_OFFSET, 0);
  writeU16(b, off + ICMPV6_CHECKSUM_OFFSET, icmpv6Checksum(b, off, len, src, dst));
}

/** Writes the 8-byte header at `off` (see `Icmpv6Fields.src`); returns 8. */
export function encodeIcmpv6(b: Uint8Array, off: number, f: Icmpv6Fields): number {
  b[off + ICMPV6_TYPE_OFFSET] = f.type;
  b[off + ICMPV6_CODE_OFFSET] = f.code;
  writeU16(b, off + ICMPV6_CHECKSUM_OFFSET, f.checksum ?? 0);
  if (f.mtu !== undefined) writeU32(b, off + ICMPV6_MTU_OFFSET, f.mtu);
  else if (f.pointer !== undefined) writeU32(b, off + ICMPV6_POINTER_OFFSET, f.pointer);
  else {
    writeU16(b, off + ICMPV6_IDENT_OFFSET, f.ident ?? 0);
    writeU16(b, off + ICMPV6_SEQUENCE_OFFSET, f.sequence ?? 0);
  }
  if (f.src && f.dst) setIcmpv6Checksum(b, off, ICMPV6_HEADER_SIZE + (f.payloadLength ?? 0), f.src, f.dst);
  return ICMPV6_HEADER_SIZE;
}

// ---------------------------------------------------------------------------
// Neighbor Discovery (RFC 4861 §4).

export const NDP_RS_SIZE = 8;
export const NDP_RA_SIZE = 16;
export const NDP_NS_SIZE = 24;
export const NDP_NA_SIZE = 24;
export const NDP_REDIRECT_SIZE = 40;
export const NDP_TARGET_OFFSET = 8;
export const NDP_REDIRECT_DST_OFFSET = 24;
export const NDP_RA_CUR_HOP_LIMIT_OFFSET = 4;
export const NDP_RA_FLAGS_OFFSET = 5;
export const NDP_RA_ROUTER_LIFETIME_OFFSET = 6;
export const NDP_RA_REACHABLE_TIME_OFFSET = 8;
export const NDP_RA_RETRANS_TIMER_OFFSET = 12;
export const NDP_NA_FLAGS_OFFSET = 4;

/** Neighbor Advertisement flags (RFC 4861 §4.4), in the first body byte. */
export const NDP_NA_ROUTER = 0x80;
export const NDP_NA_SOLICITED = 0x40;
export const NDP_NA_OVERRIDE = 0x20;
/** Router Advertisement flags (RFC 4861 §4.2). */
export const NDP_RA_MANAGED = 0x80;
export const NDP_RA_OTHER = 0x40;

/** Option types (RFC 4861 §4.6). */
export const NDP_OPT_SOURCE_LINK_ADDRESS = 1;
export const NDP_OPT_TARGET_LINK_ADDRESS = 2;
export const NDP_OPT_PREFIX_INFO = 3;
export const NDP_OPT_REDIRECTED_HEADER = 4;
export const NDP_OPT_MTU = 5;
export const NDP_PREFIX_INFO_SIZE = 32;
export const NDP_MTU_OPTION_SIZE = 8;
/** Prefix Information flags (RFC 4861 §4.6.2). */
export const NDP_PREFIX_ON_LINK = 0x80;
export const NDP_PREFIX_AUTONOMOUS = 0x40;
/** RFC 4861 §6.1.1/§7.1.1: ND messages arrive with Hop Limit 255 ("not forwarded by a router"). */
export const NDP_HOP_LIMIT = 255;

function addressAt(b: Uint8Array, o: number): Address {
  return Address.fromBytes(b, o, 16);
}

/** Router Solicitation (RFC 4861 §4.1): type, code, checksum, reserved, options. */
export class NdpRouterSolicit {
  constructor(
    readonly b: Uint8Array,
    readonly off: number,
  ) {}
  isValid(len: number): boolean {
    return len >= NDP_RS_SIZE && this.off >= 0 && this.off + NDP_RS_SIZE <= this.b.length;
  }
  get optionsOffset(): number {
    return this.off + NDP_RS_SIZE;
  }
}

/** Router Advertisement (RFC 4861 §4.2). */
export class NdpRouterAdvert {
  constructor(
    readonly b: Uint8Array,
    readonly off: number,
  ) {}
  isValid(len: number): boolean {
    return len >= NDP_RA_SIZE && this.off >= 0 && this.off + NDP_RA_SIZE <= this.b.length;
  }
  get curHopLimit(): number {
    return this.b[this.off + NDP_RA_CUR_HOP_LIMIT_OFFSET]!;
  }
  get managed(): boolean {
    return (this.b[this.off + NDP_RA_FLAGS_OFFSET]! & NDP_RA_MANAGED) !== 0;
  }
  get other(): boolean {
    return (this.b[this.off + NDP_RA_FLAGS_OFFSET]! & NDP_RA_OTHER) !== 0;
  }
  /** Seconds; 0 = not a default router. */
  get routerLifetime(): number {
    return readU16(this.b, this.off + NDP_RA_ROUTER_LIFETIME_OFFSET);
  }
  /** Milliseconds; 0 = unspecified. */
  get reachableTime(): number {
    return readU32(this.b, this.off + NDP_RA_REACHABLE_TIME_OFFSET);
  }
  /** Milliseconds; 0 = unspecified. */
  get retransTimer(): number {
    return readU32(this.b, this.off + NDP_RA_RETRANS_TIMER_OFFSET);
  }
  get optionsOffset(): number {
    return this.off + NDP_RA_SIZE;
  }
}

/** Neighbor Solicitation (RFC 4861 §4.3). */
export class NdpNeighborSolicit {
  constructor(
    readonly b: Uint8Array,
    readonly off: number,
  ) {}
  isValid(len: number): boolean {
    return len >= NDP_NS_SIZE && this.off >= 0 && this.off + NDP_NS_SIZE <= this.b.length;
  }
  targetAddress(): Address {
    return addressAt(this.b, this.off + NDP_TARGET_OFFSET);
  }
  /** Absolute offset of the target address (compare bytes without allocating). */
  get targetOffset(): number {
    return this.off + NDP_TARGET_OFFSET;
  }
  get optionsOffset(): number {
    return this.off + NDP_NS_SIZE;
  }
}

/** Neighbor Advertisement (RFC 4861 §4.4). */
export class NdpNeighborAdvert {
  constructor(
    readonly b: Uint8Array,
    readonly off: number,
  ) {}
  isValid(len: number): boolean {
    return len >= NDP_NA_SIZE && this.off >= 0 && this.off + NDP_NA_SIZE <= this.b.length;
  }
  get router(): boolean {
    return (this.b[this.off + NDP_NA_FLAGS_OFFSET]! & NDP_NA_ROUTER) !== 0;
  }
  get solicited(): boolean {
    return (this.b[this.off + NDP_NA_FLAGS_OFFSET]! & NDP_NA_SOLICITED) !== 0;
  }
  get override(): boolean {
    return (this.b[this.off + NDP_NA_FLAGS_OFFSET]! & NDP_NA_OVERRIDE) !== 0;
  }
  targetAddress(): Address {
    return addressAt(this.b, this.off + NDP_TARGET_OFFSET);
  }
  get targetOffset(): number {
    return this.off + NDP_TARGET_OFFSET;
  }
  get optionsOffset(): number {
    return this.off + NDP_NA_SIZE;
  }
}

/** Redirect (RFC 4861 §4.5). */
export class NdpRedirect {
  constructor(
    readonly b: Uint8Array,
    readonly off: number,
  ) {}
  isValid(len: number): boolean {
    return len >= NDP_REDIRECT_SIZE && this.off >= 0 && this.off + NDP_REDIRECT_SIZE <= this.b.length;
  }
  targetAddress(): Address {
    return addressAt(this.b, this.off + NDP_TARGET_OFFSET);
  }
  destinationAddress(): Address {
    return addressAt(this.b, this.off + NDP_REDIRECT_DST_OFFSET);
  }
  get optionsOffset(): number {
    return this.off + NDP_REDIRECT_SIZE;
  }
}

/**
 * MLDv1 message (RFC 2710 §3): Maximum Response Delay (ms, meaningful in
 * Queries), Reserved, Multicast Address. An MLDv2 query (RFC 3810 §5.1)
 * starts with the same 24 bytes.
 */
export const MLD_MAX_RESPONSE_DELAY_OFFSET = 4;
export const MLD_MULTICAST_ADDRESS_OFFSET = 8;
export const MLD_SIZE = 24;

export class MldMessage {
  constructor(
    readonly b: Uint8Array,
    readonly off: number,
  ) {}
  isValid(len: number): boolean {
    return len >= MLD_SIZE && this.off >= 0 && this.off + MLD_SIZE <= this.b.length;
  }
  /** RFC 2710 §3.4 (an MLDv2 query encodes it as a floating-point code, RFC 3810 §5.1.3). */
  get maxResponseDelay(): number {
    return readU16(this.b, this.off + MLD_MAX_RESPONSE_DELAY_OFFSET);
  }
  multicastAddress(): Address {
    return addressAt(this.b, this.off + MLD_MULTICAST_ADDRESS_OFFSET);
  }
}

/** Why an NDP option walk stopped. */
export const NDP_OPTIONS_OK = 0;
/** RFC 4861 §4.6: "The value 0 is invalid. Nodes MUST silently discard an ND packet that contains an option with length zero." Also: an option running past the end. */
export const NDP_OPTIONS_MALFORMED = 1;

/**
 * Walks NDP options (RFC 4861 §4.6: type, length in 8-octet units, value).
 * `reset(b, off, len)`; each `next()` that returns true sets `type`,
 * `optionOffset` and `length` (bytes). A zero length or an overrun stops the
 * walk with `error = NDP_OPTIONS_MALFORMED`, and the whole message must be
 * dropped (RFC 4861 §6.1.1, §7.1.1). Never throws; allocates nothing.
 */
export class NdpOptionIterator {
  type = 0;
  optionOffset = 0;
  length = 0;
  error = NDP_OPTIONS_OK;
  private b: Uint8Array = new Uint8Array(0);
  private pos = 0;
  private end = 0;

  reset(b: Uint8Array, off: number, len: number): this {
    this.b = b;
    this.pos = off;
    this.end = Math.min(off + Math.max(len, 0), b.length);
    this.error = NDP_OPTIONS_OK;
    return this;
  }

  next(): boolean {
    if (this.pos >= this.end) return false;
    if (this.pos + 2 > this.end) return this.fail();
    const l = this.b[this.pos + 1]! << 3;
    if (l === 0 || this.pos + l > this.end) return this.fail();
    this.type = this.b[this.pos]!;
    this.optionOffset = this.pos;
    this.length = l;
    this.pos += l;
    return true;
  }

  /** The link-layer address of a Source/Target Link-Layer Address option (RFC 4861 §4.6.1), or undefined if too short. */
  linkAddress(size = 6): LinkAddress | undefined {
    if (this.length < 2 + size) return undefined;
    return LinkAddress.fromBytes(this.b, this.optionOffset + 2, size);
  }

  /** The MTU of an MTU option (RFC 4861 §4.6.4), or -1 if the option is not 8 bytes. */
  mtu(): number {
    return this.length === NDP_MTU_OPTION_SIZE ? readU32(this.b, this.optionOffset + 4) : -1;
  }

  /** A view of a Prefix Information option (check its `isValid(length)`). */
  prefixInformation(): NdpPrefixInformation {
    return new NdpPrefixInformation(this.b, this.optionOffset);
  }

  private fail(): false {
    this.error = NDP_OPTIONS_MALFORMED;
    this.pos = this.end;
    return false;
  }
}

/** Prefix Information option (RFC 4861 §4.6.2); `off` at its Type byte. */
export class NdpPrefixInformation {
  constructor(
    readonly b: Uint8Array,
    readonly off: number,
  ) {}
  /** RFC 4861 §4.6.2: Length is 4 (32 bytes). */
  isValid(len: number): boolean {
    return len >= NDP_PREFIX_INFO_SIZE && this.off >= 0 && this.off + NDP_PREFIX_INFO_SIZE <= this.b.length;
  }
  get prefixLength(): number {
    return this.b[this.off + 2]!;
  }
  get onLink(): boolean {
    return (this.b[this.off + 3]! & NDP_PREFIX_ON_LINK) !== 0;
  }
  get autonomous(): boolean {
    return (this.b[this.off + 3]! & NDP_PREFIX_AUTONOMOUS) !== 0;
  }
  /** Seconds; 0xffffffff = infinity. */
  get validLifetime(): number {
    return readU32(this.b, this.off + 4);
  }
  get preferredLifetime(): number {
    return readU32(this.b, this.off + 8);
  }
  prefix(): Address {
    return addressAt(this.b, this.off + 16);
  }
}

/** Writes a Source/Target Link-Layer Address option, zero-padded to 8-octet units; returns its length. */
export function encodeNdpLinkAddressOption(
  b: Uint8Array,
  off: number,
  type: number,
  la: LinkAddress,
): number {
  const len = ((2 + la.length + 7) >> 3) << 3;
  b.fill(0, off, off + len);
  b[off] = type;
  b[off + 1] = len >> 3;
  b.set(la.bytes, off + 2);
  return len;
}

export interface NdpPrefixInformationFields {
  prefixLength: number;
  onLink: boolean;
  autonomous: boolean;
  validLifetime: number;
  preferredLifetime: number;
  prefix: Address;
}

/** Writes a 32-byte Prefix Information option; returns 32. */
export function encodeNdpPrefixInformation(
  b: Uint8Array,
  off: number,
  f: NdpPrefixInformationFields,
): number {
  b[off] = NDP_OPT_PREFIX_INFO;
  b[off + 1] = NDP_PREFIX_INFO_SIZE >> 3;
  b[off + 2] = f.prefixLength;
  b[off + 3] = (f.onLink ? NDP_PREFIX_ON_LINK : 0) | (f.autonomous ? NDP_PREFIX_AUTONOMOUS : 0);
  writeU32(b, off + 4, f.validLifetime);
  writeU32(b, off + 8, f.preferredLifetime);
  writeU32(b, off + 12, 0);
  b.set(f.prefix.bytes, off + 16);
  return NDP_PREFIX_INFO_SIZE;
}

/** Writes an 8-byte MTU option; returns 8. */
export function encodeNdpMtuOption(b: Uint8Array, off: number, mtu: number): number {
  b[off] = NDP_OPT_MTU;
  b[off + 1] = 1;
  writeU16(b, off + 2, 0);
  writeU32(b, off + 4, mtu);
  return NDP_MTU_OPTION_SIZE;
}

function ndpStart(b: Uint8Array, off: number, type: number, size: number): void {
  b.fill(0, off, off + size);
  b[off + ICMPV6_TYPE_OFFSET] = type;
}

/**
 * Writes a Router Solicitation (with a Source Link-Layer Address option when
 * given) and returns its length. The checksum is left 0: call
 * `setIcmpv6Checksum` once the addresses are known.
 */
export function encodeNdpRouterSolicit(
  b: Uint8Array,
  off: number,
  f: { sourceLinkAddress?: LinkAddress },
): number {
  ndpStart(b, off, ICMPV6_ROUTER_SOLICIT, NDP_RS_SIZE);
  let n = NDP_RS_SIZE;
  if (f.sourceLinkAddress)
    n += encodeNdpLinkAddressOption(b, off + n, NDP_OPT_SOURCE_LINK_ADDRESS, f.sourceLinkAddress);
  return n;
}

export interface NdpRouterAdvertFields {
  curHopLimit: number;
  managed?: boolean;
  other?: boolean;
  routerLifetime: number;
  reachableTime?: number;
  retransTimer?: number;
  sourceLinkAddress?: LinkAddress;
  mtu?: number;
  prefixes?: readonly NdpPrefixInformationFields[];
}

/** Writes a Router Advertisement with its options; returns its length (checksum left 0). */
export function encodeNdpRouterAdvert(b: Uint8Array, off: number, f: NdpRouterAdvertFields): number {
  ndpStart(b, off, ICMPV6_ROUTER_ADVERT, NDP_RA_SIZE);
  b[off + NDP_RA_CUR_HOP_LIMIT_OFFSET] = f.curHopLimit;
  b[off + NDP_RA_FLAGS_OFFSET] = (f.managed ? NDP_RA_MANAGED : 0) | (f.other ? NDP_RA_OTHER : 0);
  writeU16(b, off + NDP_RA_ROUTER_LIFETIME_OFFSET, f.routerLifetime);
  writeU32(b, off + NDP_RA_REACHABLE_TIME_OFFSET, f.reachableTime ?? 0);
  writeU32(b, off + NDP_RA_RETRANS_TIMER_OFFSET, f.retransTimer ?? 0);
  let n = NDP_RA_SIZE;
  if (f.sourceLinkAddress)
    n += encodeNdpLinkAddressOption(b, off + n, NDP_OPT_SOURCE_LINK_ADDRESS, f.sourceLinkAddress);
  if (f.mtu !== undefined) n += encodeNdpMtuOption(b, off + n, f.mtu);
  for (const p of f.prefixes ?? []) n += encodeNdpPrefixInformation(b, off + n, p);
  return n;
}

/** Writes a Neighbor Solicitation; returns its length (checksum left 0). */
export function encodeNdpNeighborSolicit(
  b: Uint8Array,
  off: number,
  f: { target: Address; sourceLinkAddress?: LinkAddress },
): number {
  ndpStart(b, off, ICMPV6_NEIGHBOR_SOLICIT, NDP_NS_SIZE);
  b.set(f.target.bytes, off + NDP_TARGET_OFFSET);
  let n = NDP_NS_SIZE;
  if (f.sourceLinkAddress)
    n += encodeNdpLinkAddressOption(b, off + n, NDP_OPT_SOURCE_LINK_ADDRESS, f.sourceLinkAddress);
  return n;
}

/** Writes a Neighbor Advertisement; returns its length (checksum left 0). */
export function encodeNdpNeighborAdvert(
  b: Uint8Array,
  off: number,
  f: {
    target: Address;
    router?: boolean;
    solicited?: boolean;
    override?: boolean;
    targetLinkAddress?: LinkAddress;
  },
): number {
  ndpStart(b, off, ICMPV6_NEIGHBOR_ADVERT, NDP_NA_SIZE);
  b[off + NDP_NA_FLAGS_OFFSET] =
    (f.router ? NDP_NA_ROUTER : 0) |
    (f.solicited ? NDP_NA_SOLICITED : 0) |
    (f.override ? NDP_NA_OVERRIDE : 0);
  b.set(f.target.bytes, off + NDP_TARGET_OFFSET);
  let n = NDP_NA_SIZE;
  if (f.targetLinkAddress)
    n += encodeNdpLinkAddressOption(b, off + n, NDP_OPT_TARGET_LINK_ADDRESS, f.targetLinkAddress);
  return n;
}
