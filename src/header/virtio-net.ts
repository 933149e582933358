/**
 * The 10-byte `struct virtio_net_hdr` (virtio spec v1.2 §5.1.6 "Device
 * Operation", linux/virtio_net.h) that a TUN/TAP device opened with
 * IFF_VNET_HDR puts in front of every packet. Fields are little-endian (the
 * tun default on little-endian hosts; virtio 1.0+ "legacy" caveats aside).
 *
 *    u8 flags; u8 gso_type; le16 hdr_len; le16 gso_size; le16 csum_start; le16 csum_offset;
 */

export const VIRTIO_NET_HDR_SIZE = 10;
export const VIRTIO_FLAGS = 0;
export const VIRTIO_GSO_TYPE = 1;
export const VIRTIO_HDR_LEN = 2;
export const VIRTIO_GSO_SIZE = 4;
export const VIRTIO_CSUM_START = 6;
export const VIRTIO_CSUM_OFFSET = 8;

/** §5.1.6.2: the checksum is partial: complete it over [csum_start, end) and store it at csum_start + csum_offset. */
export const VIRTIO_NET_HDR_F_NEEDS_CSUM = 1;
/** §5.1.6.4: the device already validated the checksum (receive side). */
export const VIRTIO_NET_HDR_F_DATA_VALID = 2;
/** §5.1.6.4: the device split the header from the data (RSC). */
export const VIRTIO_NET_HDR_F_RSC_INFO = 4;

export const VIRTIO_NET_HDR_GSO_NONE = 0;
export const VIRTIO_NET_HDR_GSO_TCPV4 = 1;
export const VIRTIO_NET_HDR_GSO_UDP = 3;
export const VIRTIO_NET_HDR_GSO_TCPV6 = 4;
export const VIRTIO_NET_HDR_GSO_UDP_L4 = 5;
/** ORed into gso_type: the segments carry ECN CWR (§5.1.6.2). */
export const VIRTIO_NET_HDR_GSO_ECN = 0x80;

export interface VirtioNetFields {
  flags: number;
  gsoType: number;
  hdrLen: number;
  gsoSize: number;
  csumStart: number;
  csumOffset: number;
}

export class VirtioNetHeader {
  constructor(
    readonly b: Uint8Array,
    readonly off: number,
  ) {}

  /** Whether `len` bytes hold the header and the gso type is one the spec defines. */
  isValid(len: number): boolean {
    if (len < VIRTIO_NET_HDR_SIZE || this.off < 0 || this.off + VIRTIO_NET_HDR_SIZE > this.b.length)
      return false;
    const t = this.gsoType & ~VIRTIO_NET_HDR_GSO_ECN;
    return t === 0 || t === 1 || t === 3 || t === 4 || t === 5;
  }
  get flags(): number {
    return this.b[this.off + VIRTIO_FLAGS]!;
  }
  get gsoType(): number {
    return this.b[this.off + VIRTIO_GSO_TYPE]!;
  }
  get hdrLen(): number {
    return le16(this.b, this.off + VIRTIO_HDR_LEN);
  }
  get gsoSize(): number {
    return le16(this.b, this.off + VIRTIO_GSO_SIZE);
  }
  get csumStart(): number {
    return le16(this.b, this.off + VIRTIO_CSUM_START);
  }
  get csumOffset(): number {
    return le16(this.b, this.off + VIRTIO_CSUM_OFFSET);
  }
  get needsChecksum(): boolean {
    return (this.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) !== 0;
  }
  get dataValid(): boolean {
    return (this.flags & VIRTIO_NET_HDR_F_DATA_VALID) !== 0;
  }
}

/** Writes the header at `b[off, off+10)`; returns 10. */
export function encodeVirtioNetHeader(b: Uint8Array, off: number, f: VirtioNetFields): number {
  b[off + VIRTIO_FLAGS] = f.flags;
  b[off + VIRTIO_GSO_TYPE] = f.gsoType;
  put16(b, off + VIRTIO_HDR_LEN, f.hdrLen);
  put16(b, off + VIRTIO_GSO_SIZE, f.gsoSize);
  put16(b, off + VIRTIO_CSUM_START, f.csumStart);
  put16(b, off + VIRTIO_CSUM_OFFSET, f.csumOffset);
  return VIRTIO_NET_HDR_SIZE;
}

/** Zeroes the header ("no offload": a plain, fully checksummed packet). */
export function clearVirtioNetHeader(b: Uint8Array, off: number): void {
  b.fill(0, off, off + VIRTIO_NET_HDR_SIZE);
}

function le16(b: Uint8Array, o: number): number {
  return b[o]! | (b[o + 1]! << 8);
}

function put16(b: Uint8Array, o: number, v: number): void {
  b[o] = v & 0xff;
  b[o + 1] = (v >>> 8) & 0xff;
}
