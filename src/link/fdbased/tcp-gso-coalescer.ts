/**
 * Software segmentation offload in reverse, for a vnet-header fd (TUN/TAP with
 * IFF_VNET_HDR): consecutive TCP segments of one flow that the stack writes
 * in one event-loop turn are copied into one super-packet and written with a
 * virtio GSO header, so the kernel cuts them back into the same segments.
 * One write() then carries up to 64 KiB instead of one MSS: on a TUN every
 * write() costs a syscall plus the kernel's receive path, which measured at
 * ~53 % of `netstack serve`'s CPU while sending (issue 10).
 *
 * The kernel's TCP segmentation (Linux `tcp_gso_segment`) copies the first
 * segment's headers to every segment, advances the sequence number by
 * `gso_size`, keeps PSH and FIN only on the last segment, increments the IPv4
 * ID and fixes lengths and checksums. So only segments that such a cut would
 * reproduce are merged: same addresses, ports, IP header fields, TCP header
 * length and options, ACK number, window and flags (PSH aside); contiguous
 * sequence numbers; every segment but the last exactly `gso_size` bytes of
 * payload; no SYN, RST, URG or CWR; FIN only on the last. A packet that does
 * not continue the open run ends it. Packets are copied at once, so the
 * caller may reuse its buffers as soon as `add` returns.
 *
 * The super-packet's TCP checksum is left partial (virtio NEEDS_CSUM,
 * csum_start at the TCP header, the field holding the pseudo-header sum over
 * the whole TCP length), as Linux itself hands a TSO packet to a device.
 */
import type { PacketBuffer } from "../../buffer/packet-buffer.ts";
import { checksum, finishChecksum } from "../../header/checksum.ts";
import {
  encodeVirtioNetHeader,
  VIRTIO_NET_HDR_F_NEEDS_CSUM,
  VIRTIO_NET_HDR_GSO_TCPV4,
  VIRTIO_NET_HDR_GSO_TCPV6,
  VIRTIO_NET_HDR_SIZE,
} from "../../header/virtio-net.ts";

const TCP_PROTOCOL = 6;
const IPV6_HEADER_SIZE = 40;
const TCP_MIN_SIZE = 20;
const TCP_SEQ = 4;
const TCP_ACK = 8;
const TCP_DATA_OFFSET = 12;
const TCP_FLAGS = 13;
const TCP_CHECKSUM = 16;
const FIN = 0x01;
const SYN = 0x02;
const RST = 0x04;
const PSH = 0x08;
const URG = 0x20;
const CWR = 0x80;
/** Segments with one of these flags are written on their own. */
const NOT_MERGED = SYN | RST | URG | CWR;
/** Largest IP packet a 16-bit length field describes. */
const MAX_IP_PACKET = 65535;

/** Where a merged or single packet goes: `len` bytes of `buf` from offset 0, a virtio header first. */
export type CoalescedWrite = (buf: Uint8Array, len: number, segments: number) => void;

export class TcpGsoCoalescer {
  /** The open run: a virtio header, then the IP packet being built. */
  private readonly buf: Uint8Array;
  private readonly maxPacket: number;
  /** Bytes of IP packet in `buf` (after the virtio header); 0 when no run is open. */
  private len = 0;
  private segments = 0;
  private ipHeaderLength = 0;
  private headerLength = 0;
  private v6 = false;
  private mss = 0;
  private lastPayload = 0;
  private nextSeq = 0;
  /** `onTurnEnd` is queued as a microtask (see `offer`). */
  private turnEndQueued = false;

  /**
   * `onTurnEnd` runs once at the end of each event-loop turn in which `offer`
   * opened or grew a run; it should `flush()` (unless the endpoint closed).
   */
  constructor(
    private readonly write: CoalescedWrite,
    maxPacket = MAX_IP_PACKET,
    private readonly onTurnEnd: () => void = noop,
  ) {
    this.maxPacket = Math.min(MAX_IP_PACKET, maxPacket);
    this.buf = new Uint8Array(VIRTIO_NET_HDR_SIZE + MAX_IP_PACKET + 1);
  }

  /** Whether a run is open (`flush` has something to write). */
  get pending(): boolean {
    return this.segments > 0;
  }

  /**
   * For an endpoint's `writePackets`: takes `pkt` (`size` bytes from its head)
   * into the run if it is a fully checksummed TCP segment (no `gso` request of
   * its own) and returns true; the run is then ended at the latest by
   * `onTurnEnd`. Anything else ends the open run (`flush`), so that the caller,
   * which writes it itself on false, sends it after the run, in order.
   */
  offer(pkt: PacketBuffer, size: number): boolean {
    if (pkt.gso === undefined && this.add(pkt.data, pkt.head, size)) {
      if (this.segments > 0 && !this.turnEndQueued) {
        this.turnEndQueued = true;
        queueMicrotask(this.turnEnd);
      }
      return true;
    }
    this.flush();
    return false;
  }

  private readonly turnEnd = (): void => {
    this.turnEndQueued = false;
    this.onTurnEnd();
  };

  /**
   * Takes the IP packet `b[off, off + size)` if it is a TCP segment with
   * payload (merged into the open run, or opening a new one); returns false
   * for anything else, which the caller writes itself after `flush()`.
   */
  add(b: Uint8Array, off: number, size: number): boolean {
    const version = b[off]! >>> 4;
    let ihl: number;
    if (version === 4) {
      ihl = (b[off]! & 0x0f) * 4;
      if (ihl < 20 || b[off + 9] !== TCP_PROTOCOL) return false;
      if (((b[off + 2]! << 8) | b[off + 3]!) !== size) return false;
      // Fragments (MF set or an offset) are not segments.
      if ((((b[off + 6]! << 8) | b[off + 7]!) & 0x3fff) !== 0) return false;
    } else if (version === 6) {
      ihl = IPV6_HEADER_SIZE;
      // Only TCP right after the fixed header (no extension headers).
      if (b[off + 6] !== TCP_PROTOCOL) return false;
      if (((b[off + 4]! << 8) | b[off + 5]!) + IPV6_HEADER_SIZE !== size) return false;
    } else {
      return false;
    }
    if (size < ihl + TCP_MIN_SIZE) return false;
    const t = off + ihl;
    const doff = (b[t + TCP_DATA_OFFSET]! >>> 4) * 4;
    if (doff < TCP_MIN_SIZE || ihl + doff > size) return false;
    const payload = size - ihl - doff;
    const flags = b[t + TCP_FLAGS]!;
    if (payload === 0 || (flags & NOT_MERGED) !== 0) return false;
    if (this.segments > 0 && this.continues(b, off, ihl, doff, payload, flags)) {
      this.buf.set(b.subarray(t + doff, off + size), VIRTIO_NET_HDR_SIZE + this.len);
      this.len += payload;
      this.segments++;
      this.lastPayload = payload;
      this.nextSeq = (this.nextSeq + payload) >>> 0;
      // PSH and FIN end up on the last segment of the kernel's cut.
      this.buf[VIRTIO_NET_HDR_SIZE + this.ipHeaderLength + TCP_FLAGS]! |= flags & (PSH | FIN);
    } else {
      this.flush();
      this.buf.set(b.subarray(off, off + size), VIRTIO_NET_HDR_SIZE);
      this.len = size;
      this.segments = 1;
      this.ipHeaderLength = ihl;
      this.headerLength = ihl + doff;
      this.v6 = version === 6;
      this.mss = payload;
      this.lastPayload = payload;
      this.nextSeq = (readU32(b, t + TCP_SEQ) + payload) >>> 0;
    }
    // Nothing may follow a FIN.
    if (flags & FIN) this.flush();
    return true;
  }

  /** Whether the segment at `b[off]` can be appended to the open run. */
  private continues(
    b: Uint8Array,
    off: number,
    ihl: number,
    doff: number,
    payload: number,
    flags: number,
  ): boolean {
    if (ihl + doff !== this.headerLength || ihl !== this.ipHeaderLength) return false;
    // Every segment but the last must be exactly gso_size long.
    if (this.lastPayload !== this.mss || payload > this.mss) return false;
    if (this.len + payload > this.maxPacket) return false;
    const h = VIRTIO_NET_HDR_SIZE;
    const buf = this.buf;
    const t = off + ihl;
    const ht = h + ihl;
    if (readU32(b, t + TCP_SEQ) !== this.nextSeq) return false;
    if (((buf[ht + TCP_FLAGS]! ^ flags) & ~(PSH | FIN)) !== 0) return false;
    // The open run has no FIN (a FIN flushes), so the first header's flags are the run's.
    // IP header: everything but the length, ID and checksum must match.
    if (this.v6) {
      if (!same(b, off, buf, h, 4) || !same(b, off + 6, buf, h + 6, 34)) return false;
    } else {
      if (b[off + 1] !== buf[h + 1] || !same(b, off + 6, buf, h + 6, 4)) return false;
      if (!same(b, off + 12, buf, h + 12, ihl - 12)) return false;
    }
    // TCP header: ports, then ACK number, data offset, window, urgent pointer and options.
    if (!same(b, t, buf, ht, 4)) return false;
    if (!same(b, t + TCP_ACK, buf, ht + TCP_ACK, 5)) return false;
    if (!same(b, t + 14, buf, ht + 14, 2) || !same(b, t + 18, buf, ht + 18, doff - 18)) return false;
    return true;
  }

  /** Writes the open run, if any: as it came for one segment, else as a GSO super-packet. */
  flush(): void {
    const segments = this.segments;
    if (segments === 0) return;
    this.segments = 0;
    const buf = this.buf;
    const h = VIRTIO_NET_HDR_SIZE;
    const len = this.len;
    if (segments === 1) {
      buf.fill(0, 0, h);
      this.write(buf, h + len, 1);
      return;
    }
    const ihl = this.ipHeaderLength;
    const tcpLength = len - ihl;
    let sum: number;
    if (this.v6) {
      writeU16(buf, h + 4, tcpLength);
      sum = checksum(buf, h + 8, 32, 0);
    } else {
      writeU16(buf, h + 2, len);
      writeU16(buf, h + 10, 0);
      writeU16(buf, h + 10, finishChecksum(checksum(buf, h, ihl, 0)));
      sum = checksum(buf, h + 12, 8, 0);
    }
    // RFC 9293 §3.1 pseudo-header over the whole TCP length, not inverted: the device
    // (here the kernel's segmentation) adds each segment's header and text.
    sum += TCP_PROTOCOL + tcpLength;
    sum = (sum & 0xffff) + (sum >>> 16);
    sum = (sum & 0xffff) + (sum >>> 16);
    writeU16(buf, h + ihl + TCP_CHECKSUM, sum);
    encodeVirtioNetHeader(buf, 0, {
      flags: VIRTIO_NET_HDR_F_NEEDS_CSUM,
      gsoType: this.v6 ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4,
      hdrLen: this.headerLength,
      gsoSize: this.mss,
      csumStart: ihl,
      csumOffset: TCP_CHECKSUM,
    });
    this.write(buf, h + len, segments);
  }
}

function readU32(b: Uint8Array, off: number): number {
  return ((b[off]! << 24) | (b[off + 1]! << 16) | (b[off + 2]! << 8) | b[off + 3]!) >>> 0;
}

function writeU16(b: Uint8Array, off: number, v: number): void {
  b[off] = v >>> 8;
  b[off + 1] = v & 0xff;
}

function same(a: Uint8Array, ao: number, b: Uint8Array, bo: number, n: number): boolean {
  for (let i = 0; i < n; i++) if (a[ao + i] !== b[bo + i]) return false;
  return true;
}

function noop(): void {}
