/**
 * ARP for IPv4 over Ethernet (RFC 826, RFC 5227 for probes/announcements).
 * Only hardware type 1 / protocol 0x0800 with 6- and 4-byte addresses is valid.
 */
import { Address } from "../tcpip/address.ts";
import { LinkAddress } from "../tcpip/link-address.ts";

export const ARP_HTYPE_OFFSET = 0;
export const ARP_PTYPE_OFFSET = 2;
export const ARP_HLEN_OFFSET = 4;
export const ARP_PLEN_OFFSET = 5;
export const ARP_OP_OFFSET = 6;
export const ARP_SENDER_HW_OFFSET = 8;
export const ARP_SENDER_IP_OFFSET = 14;
export const ARP_TARGET_HW_OFFSET = 18;
export const ARP_TARGET_IP_OFFSET = 24;
export const ARP_SIZE = 28;

/** "ar$hrd": Ethernet (RFC 826; IANA ARP parameters). */
export const ARP_HARDWARE_ETHERNET = 1;
export const ARP_PROTOCOL_IPV4 = 0x0800;
/** "ar$op" values (RFC 826). */
export const ARP_REQUEST = 1;
export const ARP_REPLY = 2;

export interface ArpFields {
  op: number;
  senderHw: LinkAddress;
  senderIp: Address;
  targetHw: LinkAddress;
  targetIp: Address;
}

export class ArpHeader {
  constructor(
    readonly b: Uint8Array,
    readonly off: number,
  ) {}

  /**
   * Whether `len` bytes hold an Ethernet/IPv4 ARP packet (RFC 826 "?Do I have
   * the hardware type in ar$hrd ... ?Do I speak the protocol in ar$pro?").
   */
  isValid(len: number): boolean {
    if (len < ARP_SIZE || this.off < 0 || this.off + ARP_SIZE > this.b.length) return false;
    return (
      this.hardwareType === ARP_HARDWARE_ETHERNET &&
      this.protocolType === ARP_PROTOCOL_IPV4 &&
      this.hardwareSize === 6 &&
      this.protocolSize === 4
    );
  }

  get hardwareType(): number {
    return (this.b[this.off + ARP_HTYPE_OFFSET]! << 8) | this.b[this.off + ARP_HTYPE_OFFSET + 1]!;
  }
  get protocolType(): number {
    return (this.b[this.off + ARP_PTYPE_OFFSET]! << 8) | this.b[this.off + ARP_PTYPE_OFFSET + 1]!;
  }
  get hardwareSize(): number {
    return this.b[this.off + ARP_HLEN_OFFSET]!;
  }
  get protocolSize(): number {
    return this.b[this.off + ARP_PLEN_OFFSET]!;
  }
  get op(): number {
    return (this.b[this.off + ARP_OP_OFFSET]! << 8) | this.b[this.off + ARP_OP_OFFSET + 1]!;
  }
  senderHardwareAddress(): LinkAddress {
    return LinkAddress.fromBytes(this.b, this.off + ARP_SENDER_HW_OFFSET, 6);
  }
  senderProtocolAddress(): Address {
    return Address.fromBytes(this.b, this.off + ARP_SENDER_IP_OFFSET, 4);
  }
  targetHardwareAddress(): LinkAddress {
    return LinkAddress.fromBytes(this.b, this.off + ARP_TARGET_HW_OFFSET, 6);
  }
  targetProtocolAddress(): Address {
    return Address.fromBytes(this.b, this.off + ARP_TARGET_IP_OFFSET, 4);
  }
}

/** Writes a 28-byte Ethernet/IPv4 ARP packet at `off`; returns 28. */
export function encodeArp(b: Uint8Array, off: number, f: ArpFields): number {
  b[off + ARP_HTYPE_OFFSET] = 0;
  b[off + ARP_HTYPE_OFFSET + 1] = ARP_HARDWARE_ETHERNET;
  b[off + ARP_PTYPE_OFFSET] = ARP_PROTOCOL_IPV4 >>> 8;
  b[off + ARP_PTYPE_OFFSET + 1] = ARP_PROTOCOL_IPV4 & 0xff;
  b[off + ARP_HLEN_OFFSET] = 6;
  b[off + ARP_PLEN_OFFSET] = 4;
  b[off + ARP_OP_OFFSET] = f.op >>> 8;
  b[off + ARP_OP_OFFSET + 1] = f.op & 0xff;
  // A request's target hardware address is unknown: RFC 826 leaves it "don't care"; we write what we are given
  // (callers pass zeros, as Linux does).
  writeBytes(b, off + ARP_SENDER_HW_OFFSET, f.senderHw.bytes, 6);
  writeBytes(b, off + ARP_SENDER_IP_OFFSET, f.senderIp.bytes, 4);
  writeBytes(b, off + ARP_TARGET_HW_OFFSET, f.targetHw.bytes, 6);
  writeBytes(b, off + ARP_TARGET_IP_OFFSET, f.targetIp.bytes, 4);
  return ARP_SIZE;
}

/** Copies up to `n` bytes of `src`, zero-filling the rest (so `LinkAddress.EMPTY` writes zeros). */
function writeBytes(b: Uint8Array, off: number, src: Uint8Array, n: number): void {
  for (let i = 0; i < n; i++) b[off + i] = i < src.length ? src[i]! : 0;
}
