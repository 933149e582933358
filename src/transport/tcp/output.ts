/**
 * Builds one TCP segment into a packet with headroom for the layers below and
 * hands it to the route. Used by endpoints and for stateless replies (RST,
 * SYN cookies).
 */
import { PacketBuffer } from "../../buffer/packet-buffer.ts";
import type { VectorisedView } from "../../buffer/vectorised-view.ts";
import { checksum, finishChecksum } from "../../header/checksum.ts";
import { encodeTcp, encodeTcpOptions, TCP_MIN_SIZE, type TcpOptionFields } from "../../header/tcp.ts";
import type { NetworkHeaderParams, Route } from "../../stack/registration.ts";
import { TcpipError } from "../../tcpip/errors.ts";
import { TCP_PROTOCOL_NUMBER } from "../../tcpip/protocols.ts";
import type { Stats } from "../../tcpip/stats.ts";

export interface OutSegment {
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  flags: number;
  window: number;
  options?: TcpOptionFields | undefined;
  /** Payload source: `len` bytes of `data` from byte `from`. */
  data?: VectorisedView | undefined;
  from?: number;
  len?: number;
  /**
   * Payload bytes per wire segment when `len` may exceed it: the packet then
   * leaves as one GSO super-segment the link cuts into `gsoSize`-byte parts.
   */
  gsoSize?: number | undefined;
}

const scratch = new Uint8Array(40);
/**
 * The header fields and network parameters of the segment being written, filled in per call: both are
 * read synchronously by `encodeTcp` and the network layer and never kept (issue 10: two objects fewer
 * per segment on the request/response path).
 */
const tcpFields = { srcPort: 0, dstPort: 0, seq: 0, ack: 0, flags: 0, window: 0, optionsLength: 0 };
const ipParams: NetworkHeaderParams = { protocol: TCP_PROTOCOL_NUMBER, ttl: 0, tos: 0, dontFragment: false };
/** GsoInfo.type values (VIRTIO_NET_HDR_GSO_TCPV4 / _TCPV6). */
const GSO_TCPV4 = 1;
const GSO_TCPV6 = 4;
const IPV4_MIN_SIZE = 20;
const IPV6_MIN_SIZE = 40;

/**
 * Packets a link gave back (issue 10): when the NIC marks a segment `consumedByLink` (its link declares
 * `synchronousWrite` and wrote it during the call, nothing below kept it), the next segment is built in
 * the same packet and array instead of a new zero-filled one. One spare per size class: MSS-sized
 * segments and ACKs, and GSO super-segments. A spare is taken out while a segment is being written, so
 * a segment written from inside that write (a link delivering synchronously) never shares it. Every
 * byte of a reused segment in `[head, tail)` is written again: the TCP header and options by
 * `encodeTcp`, the payload by `copyTo`, the IP header by the network layer.
 */
let spareSmall: PacketBuffer | undefined;
let spareLarge: PacketBuffer | undefined;
/** Largest array (headroom included) kept as the small spare; MSS segments on a 1500-byte MTU fit. */
const SMALL_SPARE_MAX = 4096;

function takePacket(headroom: number, size: number): PacketBuffer {
  const need = headroom + size;
  let p: PacketBuffer | undefined;
  if (need <= SMALL_SPARE_MAX) {
    p = spareSmall;
    if (p !== undefined && p.data.length >= need) spareSmall = undefined;
    else p = undefined;
  } else {
    p = spareLarge;
    if (p !== undefined && p.data.length >= need) spareLarge = undefined;
    else p = undefined;
  }
  if (p === undefined) return PacketBuffer.alloc(headroom, size);
  p.reuse(headroom, need);
  return p;
}

/** Keeps `pkt` as a spare if its link is done with it (the larger array of a class wins). */
function giveBack(pkt: PacketBuffer): void {
  if (!pkt.consumedByLink) return;
  const cap = pkt.data.length;
  if (cap <= SMALL_SPARE_MAX) {
    if (spareSmall === undefined || spareSmall.data.length <= cap) spareSmall = pkt;
  } else if (spareLarge === undefined || spareLarge.data.length <= cap) spareLarge = pkt;
}

/** Encodes `s` and writes it along `route`; returns whether the route took it. */
export function writeSegment(route: Route, s: OutSegment, ttl: number, tos: number, stats: Stats): boolean {
  const optLen = s.options ? encodeTcpOptions(scratch, 0, s.options) : 0;
  const hdrLen = TCP_MIN_SIZE + optLen;
  const len = s.data ? (s.len ?? 0) : 0;
  const pkt = takePacket(route.maxHeaderLength, hdrLen + len);
  const b = pkt.data;
  const off = pkt.head;
  for (let i = 0; i < optLen; i++) b[off + TCP_MIN_SIZE + i] = scratch[i]!;
  const f = tcpFields;
  f.srcPort = s.srcPort;
  f.dstPort = s.dstPort;
  f.seq = s.seq >>> 0;
  f.ack = s.ack >>> 0;
  f.flags = s.flags;
  f.window = s.window;
  f.optionsLength = optLen;
  encodeTcp(b, off, f);
  if (len > 0) s.data!.copyTo(b, s.from ?? 0, off + hdrLen, len);
  const total = hdrLen + len;
  const gsoSize = s.gsoSize ?? 0;
  if (gsoSize > 0 && len > gsoSize) {
    // A super-segment for a HardwareGSO link (virtio v1.2 §5.1.6.2 NEEDS_CSUM): the checksum field holds
    // the pseudo-header sum over the whole TCP length, not inverted; the device (Linux tcp_gso_segment)
    // adjusts it per part, completes it, repeats the header and clears FIN/PSH on all parts but the last.
    // Offsets count from the IP header; TCP sends no IP options, so that header is 20 or 40 bytes.
    const ipLen = route.localAddress.is4 ? IPV4_MIN_SIZE : IPV6_MIN_SIZE;
    const c = route.pseudoHeaderChecksum(TCP_PROTOCOL_NUMBER, total);
    b[off + 16] = c >>> 8;
    b[off + 17] = c & 0xff;
    pkt.gso = {
      type: route.localAddress.is4 ? GSO_TCPV4 : GSO_TCPV6,
      size: gsoSize,
      headerLength: ipLen + hdrLen,
      needsChecksum: true,
      checksumStart: ipLen,
      checksumOffset: 16,
    };
  } else {
    // RFC 9293 §3.1: the checksum covers the pseudo-header, header and payload. We always fill it in
    // completely, so the segment is right whatever the link does with offload.
    const sum = checksum(b, off, total, route.pseudoHeaderChecksum(TCP_PROTOCOL_NUMBER, total));
    const c = finishChecksum(sum);
    b[off + 16] = c >>> 8;
    b[off + 17] = c & 0xff;
  }
  pkt.transportHeader = off;
  pkt.transportProtocol = TCP_PROTOCOL_NUMBER;
  try {
    // RFC 1191 §3 / RFC 9293 §3.7.2: TCP does path MTU discovery, so its IPv4 datagrams carry DF. A segment
    // whose options outgrew the MSS budget (SACK blocks beyond the timestamp space) still leaves, fragmented.
    const df = route.localAddress.is4 && (pkt.gso !== undefined || total <= route.mtu);
    const p = ipParams;
    p.ttl = ttl;
    p.tos = tos;
    p.dontFragment = df;
    route.writePacket(pkt, p);
    giveBack(pkt);
  } catch (e) {
    if (!(e instanceof TcpipError)) throw e;
    stats.tcp.segmentSendErrors++;
    return false;
  }
  stats.tcp.segmentsSent++;
  return true;
}
