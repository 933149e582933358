/**
 * The virtio-net header of a vnet-header fd (a TUN/TAP opened with
 * IFF_VNET_HDR) to and from a packet's offload fields, for `FdEndpoint` and
 * `ThreadedFdEndpoint`. On these links `pkt.gso.headerLength` and
 * `checksumStart` count from the start of the network (IP) header, while the
 * kernel counts from the start of the frame: `linkBytes` (14 for TAP framings,
 * 0 for a TUN) is the difference.
 *
 * Per-packet helpers: plain arguments, no allocation but the `GsoInfo` of an
 * offloaded packet (as the endpoints allocated it before).
 */
import type { GsoInfo, PacketBuffer } from "../../buffer/packet-buffer.ts";
import {
  clearVirtioNetHeader,
  encodeVirtioNetHeader,
  VIRTIO_CSUM_OFFSET,
  VIRTIO_CSUM_START,
  VIRTIO_FLAGS,
  VIRTIO_GSO_SIZE,
  VIRTIO_GSO_TYPE,
  VIRTIO_HDR_LEN,
  VIRTIO_NET_HDR_F_DATA_VALID,
  VIRTIO_NET_HDR_F_NEEDS_CSUM,
  VIRTIO_NET_HDR_GSO_ECN,
} from "../../header/virtio-net.ts";

/**
 * The gso type of the received virtio header at `hdr[0]` without its ECN bit,
 * or -1 when it is none that virtio v1.2 §5.1.6 defines (NONE, TCPV4, UDP,
 * TCPV6, UDP_L4): the caller counts the packet malformed and drops it.
 * The caller has checked that the header's 10 bytes are there.
 */
export function rxGsoType(hdr: Uint8Array): number {
  const gsoType = hdr[VIRTIO_GSO_TYPE]! & ~VIRTIO_NET_HDR_GSO_ECN;
  return gsoType === 2 || gsoType > 5 ? -1 : gsoType;
}

/**
 * Sets `pkt.checksumVerified` (NEEDS_CSUM or DATA_VALID) and, for a GRO
 * super-packet or a partial checksum, `pkt.gso` from the received virtio
 * header at `hdr[0]`, whose gso type `rxGsoType` returned.
 */
export function setRxOffload(pkt: PacketBuffer, hdr: Uint8Array, gsoType: number, linkBytes: number): void {
  const vflags = hdr[VIRTIO_FLAGS]!;
  pkt.checksumVerified = (vflags & (VIRTIO_NET_HDR_F_NEEDS_CSUM | VIRTIO_NET_HDR_F_DATA_VALID)) !== 0;
  if (gsoType !== 0 || (vflags & VIRTIO_NET_HDR_F_NEEDS_CSUM) !== 0) {
    pkt.gso = {
      type: gsoType,
      size: get16(hdr, VIRTIO_GSO_SIZE),
      headerLength: Math.max(0, get16(hdr, VIRTIO_HDR_LEN) - linkBytes),
      needsChecksum: (vflags & VIRTIO_NET_HDR_F_NEEDS_CSUM) !== 0,
      checksumStart: Math.max(0, get16(hdr, VIRTIO_CSUM_START) - linkBytes),
      checksumOffset: get16(hdr, VIRTIO_CSUM_OFFSET),
    };
  }
}

/** Writes the virtio header for a packet to send at `b[at]`: from its `gso`, or all zero without one. */
export function fillTxHeader(b: Uint8Array, at: number, g: GsoInfo | undefined, linkBytes: number): void {
  if (!g) {
    clearVirtioNetHeader(b, at);
    return;
  }
  encodeVirtioNetHeader(b, at, {
    flags: g.needsChecksum ? VIRTIO_NET_HDR_F_NEEDS_CSUM : 0,
    gsoType: g.type,
    hdrLen: g.headerLength + linkBytes,
    gsoSize: g.type !== 0 ? g.size : 0,
    csumStart: g.needsChecksum ? g.checksumStart + linkBytes : 0,
    csumOffset: g.needsChecksum ? g.checksumOffset : 0,
  });
}

/** A little-endian 16-bit field of the virtio header. */
function get16(b: Uint8Array, off: number): number {
  return b[off]! | (b[off + 1]! << 8);
}
