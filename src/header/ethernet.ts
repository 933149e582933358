/**
 * Ethernet II frame header (IEEE 802.3, RFC 894): destination MAC, source
 * MAC, EtherType. No 802.1Q tag and no FCS (the kernel strips it).
 */
import { LinkAddress } from "../tcpip/link-address.ts";

export const ETHERNET_DST_OFFSET = 0;
export const ETHERNET_SRC_OFFSET = 6;
export const ETHERNET_TYPE_OFFSET = 12;
export const ETHERNET_HEADER_SIZE = 14;
export const ETHERNET_ADDRESS_SIZE = 6;
/** The minimum frame without FCS (IEEE 802.3 minimum 64 bytes minus the 4-byte FCS). */
export const ETHERNET_MIN_FRAME_SIZE = 60;

export const ETHERTYPE_IPV4 = 0x0800;
export const ETHERTYPE_ARP = 0x0806;
export const ETHERTYPE_IPV6 = 0x86dd;
export const ETHERTYPE_VLAN = 0x8100;

export interface EthernetFields {
  src: LinkAddress;
  dst: LinkAddress;
  type: number;
}

export class EthernetHeader {
  constructor(
    readonly b: Uint8Array,
    readonly off: number,
  ) {}

  /** Whether `len` bytes at `off` hold the 14-byte header. */
  isValid(len: number): boolean {
    return len >= ETHERNET_HEADER_SIZE && this.off >= 0 && this.off + ETHERNET_HEADER_SIZE <= this.b.length;
  }

  dstAddress(): LinkAddress {
    return LinkAddress.fromBytes(this.b, this.off + ETHERNET_DST_OFFSET, ETHERNET_ADDRESS_SIZE);
  }

  srcAddress(): LinkAddress {
    return LinkAddress.fromBytes(this.b, this.off + ETHERNET_SRC_OFFSET, ETHERNET_ADDRESS_SIZE);
  }

  /** EtherType (values >= 0x0600; smaller values are 802.3 lengths). */
  get type(): number {
    const o = this.off + ETHERNET_TYPE_OFFSET;
    return (this.b[o]! << 8) | this.b[o + 1]!;
  }

  /** Whether the destination is a group address (I/G bit, IEEE 802 §8.2). */
  get isDstMulticast(): boolean {
    return (this.b[this.off + ETHERNET_DST_OFFSET]! & 1) === 1;
  }
}

/** Writes the 14-byte header at `off`; returns 14. */
export function encodeEthernet(b: Uint8Array, off: number, f: EthernetFields): number {
  b.set(f.dst.bytes, off + ETHERNET_DST_OFFSET);
  b.set(f.src.bytes, off + ETHERNET_SRC_OFFSET);
  b[off + ETHERNET_TYPE_OFFSET] = f.type >>> 8;
  b[off + ETHERNET_TYPE_OFFSET + 1] = f.type & 0xff;
  return ETHERNET_HEADER_SIZE;
}
