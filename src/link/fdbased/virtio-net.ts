/**
 * The 10-byte `struct virtio_net_hdr` (virtio spec v1.2 §5.1.6, linux/virtio_net.h)
 * that a TUN/TAP device opened with IFF_VNET_HDR puts in front of every packet.
 * All fields little-endian (the tun default for a little-endian host).
 *
 * This module's local copy; `src/header/virtio-net.ts` (docs/HEADER-API.md) is
 * the shared one once it exists, and the endpoint can switch to it unchanged.
 */
export const VIRTIO_NET_HDR_SIZE = 10;

export const VIRTIO_FLAGS = 0;
export const VIRTIO_GSO_TYPE = 1;
export const VIRTIO_HDR_LEN = 2;
export const VIRTIO_GSO_SIZE = 4;
export const VIRTIO_CSUM_START = 6;
export const VIRTIO_CSUM_OFFSET = 8;

/** The transport checksum is partial: complete it over [csum_start, end) and store at csum_start + csum_offset. */
export const VIRTIO_NET_HDR_F_NEEDS_CSUM = 1;
/** The checksum was already verified (receive side). */
export const VIRTIO_NET_HDR_F_DATA_VALID = 2;

export const VIRTIO_NET_HDR_GSO_NONE = 0;
export const VIRTIO_NET_HDR_GSO_TCPV4 = 1;
export const VIRTIO_NET_HDR_GSO_UDP = 3;
export const VIRTIO_NET_HDR_GSO_TCPV6 = 4;
export const VIRTIO_NET_HDR_GSO_UDP_L4 = 5;
export const VIRTIO_NET_HDR_GSO_ECN = 0x80;

export interface VirtioNetFields {
  flags: number;
  gsoType: number;
  hdrLen: number;
  gsoSize: number;
  csumStart: number;
  csumOffset: number;
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

/** Zeroes the header at `b[off, off+10)` ("no offload": a plain, fully checksummed packet). */
export function clearVirtioNetHeader(b: Uint8Array, off: number): void {
  b.fill(0, off, off + VIRTIO_NET_HDR_SIZE);
}

export function get16(b: Uint8Array, off: number): number {
  return b[off]! | (b[off + 1]! << 8);
}

function put16(b: Uint8Array, off: number, v: number): void {
  b[off] = v & 0xff;
  b[off + 1] = (v >>> 8) & 0xff;
}
