/**
 * An inbound segment, parsed once from its packet. The payload is a view into
 * the packet; the receiver copies what it keeps.
 */
import type { BufferLease, PacketBuffer } from "../../buffer/packet-buffer.ts";
import { checksum, pseudoHeaderChecksum } from "../../header/checksum.ts";
import {
  newTcpOptions,
  parseTcpOptions,
  TCP_ACK,
  TCP_FIN,
  TCP_RST,
  TCP_SYN,
  TcpHeader,
  type TcpOptions,
} from "../../header/tcp.ts";
import type { TransportPacketInfo } from "../../stack/registration.ts";
import { TCP_PROTOCOL_NUMBER } from "../../tcpip/protocols.ts";
import type { Stats } from "../../tcpip/stats.ts";

export class Segment {
  srcPort = 0;
  dstPort = 0;
  seq = 0;
  ack = 0;
  flags = 0;
  /** The unscaled window field. */
  window = 0;
  payload: Uint8Array = EMPTY;
  /** The link gave the packet's bytes away (`PacketBuffer.dataKeepable`): the receiver may keep `payload` itself. */
  keepable = false;
  /** With `keepable`: the lease a receiver must hold while it keeps `payload` (`PacketBuffer.lease`). */
  lease: BufferLease | undefined = undefined;
  /** The ECN field of the IP header it came in (RFC 3168 §5: 0 Not-ECT, 1 ECT(1), 2 ECT(0), 3 CE). */
  ipEcn = 0;
  readonly options: TcpOptions = newTcpOptions();

  get syn(): boolean {
    return (this.flags & TCP_SYN) !== 0;
  }
  get fin(): boolean {
    return (this.flags & TCP_FIN) !== 0;
  }
  get rst(): boolean {
    return (this.flags & TCP_RST) !== 0;
  }
  get hasAck(): boolean {
    return (this.flags & TCP_ACK) !== 0;
  }
  /** SEG.LEN (RFC 9293 §3.4): payload bytes plus one each for SYN and FIN. */
  get seqLen(): number {
    return this.payload.length + (this.syn ? 1 : 0) + (this.fin ? 1 : 0);
  }
}

const EMPTY = new Uint8Array(0);

/** Segments are reused (no allocation per packet); a pool, not one object, since delivery may nest. */
const pool: Segment[] = [];

/** Gives a segment from `parseSegment` back once its handling is over (nothing may keep it). */
export function releaseSegment(s: Segment): void {
  s.payload = EMPTY;
  s.keepable = false;
  s.lease = undefined;
  if (pool.length < 64) pool.push(s);
}

/** The header view `parseSegment` reuses (read only inside it; issue 10: no object per segment). */
const rxHeader = new TcpHeader(new Uint8Array(0), 0);

/**
 * Parses the TCP segment at `pkt.head`. Returns undefined (after counting) for
 * a malformed header or a bad checksum: malformed input is dropped, never thrown.
 */
export function parseSegment(
  pkt: PacketBuffer,
  info: TransportPacketInfo,
  stats: Stats,
): Segment | undefined {
  const len = pkt.size;
  const h = rxHeader.reset(pkt.data, pkt.head);
  if (!h.isValid(len)) {
    stats.tcp.invalidSegmentsReceived++;
    return undefined;
  }
  // A partial checksum (virtio NEEDS_CSUM, e.g. a GRO'd super-packet from a local sender) was never
  // computed over the data, so there is nothing to verify: the local sender is trusted like the kernel does.
  if (!pkt.checksumVerified && pkt.gso?.needsChecksum !== true) {
    // RFC 9293 §3.1 "Checksum": computed over the pseudo-header, the header and the data.
    const sum = checksum(
      pkt.data,
      pkt.head,
      len,
      pseudoHeaderChecksum(TCP_PROTOCOL_NUMBER, info.src, info.dst, len),
    );
    if (sum !== 0xffff) {
      stats.tcp.checksumErrors++;
      stats.tcp.invalidSegmentsReceived++;
      return undefined;
    }
  }
  const s = pool.pop() ?? new Segment();
  s.srcPort = h.srcPort;
  s.dstPort = h.dstPort;
  s.seq = h.sequenceNumber;
  s.ack = h.ackNumber;
  s.flags = h.flags;
  s.window = h.windowSize;
  // With length 0 this just resets the reused options.
  parseTcpOptions(pkt.data, h.optionsOffset, h.optionsLength, s.options);
  // A pure ACK gets the shared empty array: no view per ACK (issue 10).
  s.payload = h.payloadOffset < pkt.tail ? pkt.data.subarray(h.payloadOffset, pkt.tail) : EMPTY;
  s.keepable = pkt.dataKeepable;
  s.lease = pkt.lease;
  s.ipEcn = info.tos & 3;
  stats.tcp.validSegmentsReceived++;
  return s;
}
