/**
 * The fixed IPv6 header (RFC 8200 §3).
 *
 *     0                   1                   2                   3
 *     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *    |Version| Traffic Class |           Flow Label                  |
 *    |         Payload Length        |  Next Header  |   Hop Limit   |
 *    |                 Source Address (128 bits)                     |
 *    |              Destination Address (128 bits)                   |
 */
import { Address } from "../tcpip/address.ts";
import type { LinkAddress } from "../tcpip/link-address.ts";
import { readU16, readU32, writeU16, writeU32 } from "./bytes.ts";

export const IPV6_VERSION_TC_FLOW_OFFSET = 0;
export const IPV6_PAYLOAD_LENGTH_OFFSET = 4;
export const IPV6_NEXT_HEADER_OFFSET = 6;
export const IPV6_HOP_LIMIT_OFFSET = 7;
export const IPV6_SRC_OFFSET = 8;
export const IPV6_DST_OFFSET = 24;
export const IPV6_HEADER_SIZE = 40;
export const IPV6_ADDRESS_SIZE = 16;
export const IPV6_VERSION = 6;
/** RFC 8200 §5: "every link in the Internet [must] have an MTU of 1280 octets or greater". */
export const IPV6_MINIMUM_MTU = 1280;

export interface Ipv6Fields {
  trafficClass?: number;
  flowLabel?: number;
  /** Bytes after the fixed header, extension headers included (RFC 8200 §3). */
  payloadLength: number;
  nextHeader: number;
  hopLimit: number;
  src: Address;
  dst: Address;
}

export class Ipv6Header {
  constructor(
    readonly b: Uint8Array,
    readonly off: number,
  ) {}

  /**
   * Whether `len` bytes hold a version-6 header whose Payload Length fits in
   * `len` (trailing link padding is allowed; a zero Payload Length, as in a
   * jumbogram of RFC 2675, passes and is the caller's to interpret).
   */
  isValid(len: number): boolean {
    const o = this.off;
    if (len < IPV6_HEADER_SIZE || o < 0 || o + IPV6_HEADER_SIZE > this.b.length) return false;
    return this.version === IPV6_VERSION && IPV6_HEADER_SIZE + this.payloadLength <= len;
  }

  get version(): number {
    return this.b[this.off]! >> 4;
  }
  /** Traffic Class: DSCP and ECN (RFC 8200 §7, RFC 2474, RFC 3168). */
  get trafficClass(): number {
    return (readU16(this.b, this.off) >> 4) & 0xff;
  }
  /** 20-bit Flow Label (RFC 6437). */
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
    return Address.fromBytes(this.b, this.off + IPV6_SRC_OFFSET, IPV6_ADDRESS_SIZE);
  }
  dstAddress(): Address {
    return Address.fromBytes(this.b, this.off + IPV6_DST_OFFSET, IPV6_ADDRESS_SIZE);
  }
  /** Absolute offset of the first byte after the fixed header. */
  get payloadOffset(): number {
    return this.off + IPV6_HEADER_SIZE;
  }

  setPayloadLength(v: number): void {
    writeU16(this.b, this.off + IPV6_PAYLOAD_LENGTH_OFFSET, v);
  }
  setNextHeader(v: number): void {
    this.b[this.off + IPV6_NEXT_HEADER_OFFSET] = v;
  }
  /** RFC 8200 §3 "Hop Limit: Decremented by 1 by each node that forwards the packet" (no checksum to fix). */
  setHopLimit(v: number): void {
    this.b[this.off + IPV6_HOP_LIMIT_OFFSET] = v;
  }
  setTrafficClass(v: number): void {
    const w = readU32(this.b, this.off);
    writeU32(this.b, this.off, ((w & 0xf00fffff) | ((v & 0xff) << 20)) >>> 0);
  }
  setSrcAddress(a: Address): void {
    this.b.set(a.bytes, this.off + IPV6_SRC_OFFSET);
  }
  setDstAddress(a: Address): void {
    this.b.set(a.bytes, this.off + IPV6_DST_OFFSET);
  }
}

/** Writes the 40-byte fixed header at `off`; returns 40. */
export function encodeIpv6(b: Uint8Array, off: number, f: Ipv6Fields): number {
  const tc = f.trafficClass ?? 0;
  writeU32(b, off, ((IPV6_VERSION << 28) | ((tc & 0xff) << 20) | ((f.flowLabel ?? 0) & 0xfffff)) >>> 0);
  writeU16(b, off + IPV6_PAYLOAD_LENGTH_OFFSET, f.payloadLength);
  b[off + IPV6_NEXT_HEADER_OFFSET] = f.nextHeader;
  b[off + IPV6_HOP_LIMIT_OFFSET] = f.hopLimit;
  b.set(f.src.bytes, off + IPV6_SRC_OFFSET);
  b.set(f.dst.bytes, off + IPV6_DST_OFFSET);
  return IPV6_HEADER_SIZE;
}

/** RFC 4291 §2.7.1: the solicited-node multicast address ff02::1:ffXX:XXXX of `addr`. */
export function solicitedNodeAddress(addr: Address): Address {
  const b = Uint8Array.of(0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0, 0, 0);
  b[13] = addr.bytes[13]!;
  b[14] = addr.bytes[14]!;
  b[15] = addr.bytes[15]!;
  return Address.fromBytes(b);
}

/** Whether `addr` is a solicited-node multicast address ff02::1:ffXX:XXXX (RFC 4291 §2.7.1). */
export function isSolicitedNode(addr: Address): boolean {
  const b = addr.bytes;
  if (b.length !== IPV6_ADDRESS_SIZE || b[0] !== 0xff || b[1] !== 2 || b[11] !== 1 || b[12] !== 0xff)
    return false;
  for (let i = 2; i < 11; i++) if (b[i] !== 0) return false;
  return true;
}

/** RFC 4291 Appendix A: the modified EUI-64 interface identifier of a 48-bit MAC (ff:fe inserted, U/L bit inverted). */
export function interfaceIdFromMac(mac: LinkAddress): Uint8Array {
  const m = mac.bytes;
  return Uint8Array.of(m[0]! ^ 0x02, m[1]!, m[2]!, 0xff, 0xfe, m[3]!, m[4]!, m[5]!);
}

/** The address `prefix` (first 64 bits) + `iid` (last 64 bits) (RFC 4862 §5.5.3 (d)). */
export function addressFromPrefix(prefix: Address, iid: Uint8Array): Address {
  const b = new Uint8Array(IPV6_ADDRESS_SIZE);
  b.set(prefix.bytes.subarray(0, 8), 0);
  b.set(iid.subarray(0, 8), 8);
  return Address.fromBytes(b);
}

/** fe80::/64 + the modified EUI-64 of `mac` (RFC 4862 §5.3). */
export function linkLocalFromMac(mac: LinkAddress): Address {
  const b = new Uint8Array(IPV6_ADDRESS_SIZE);
  b[0] = 0xfe;
  b[1] = 0x80;
  b.set(interfaceIdFromMac(mac), 8);
  return Address.fromBytes(b);
}
