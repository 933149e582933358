/**
 * A link wrapper that records every packet passing through it, both ways,
 * without changing it (gVisor's `link/sniffer`): one text line per packet to
 * `log`, and a libpcap capture to `pcap`. Both are optional and pluggable, so
 * the core never touches the console or a file.
 *
 * Capture link type:
 * - the lower link carries whole frames (`carriesFrames`): LINKTYPE_ETHERNET, bytes as they are;
 * - the lower link is Ethernet (`ResolutionRequired`, e.g. an `EthernetEndpoint`):
 *   LINKTYPE_ETHERNET; inbound packets are captured from their recorded
 *   `linkHeader`, outbound ones get the header the Ethernet link is about to
 *   write (to `pkt.linkDst`, or broadcast, from the link's own address);
 * - otherwise (TUN, channel, loopback): LINKTYPE_RAW, bare IP packets.
 *
 * Outbound packets are recorded before they are passed down, so the capture
 * shows a request before the reply it caused even on a link that delivers
 * synchronously. Timestamps come from `clock.wallNow()`.
 */
import type { PacketBuffer } from "../../buffer/packet-buffer.ts";
import type { Clock } from "../../tcpip/clock.ts";
import { LinkAddress } from "../../tcpip/link-address.ts";
import { LinkCapability, type LinkEndpoint, type NetworkDispatcher } from "../link-endpoint.ts";
import { type Direction, formatPacket } from "./packet-log.ts";
import { LINKTYPE_ETHERNET, LINKTYPE_RAW, type PcapSink, PcapWriter } from "./pcap.ts";

const ETHERNET_HEADER_LENGTH = 14;

export interface SnifferOptions {
  /** Timestamps for the capture: the stack's clock (`ManualClock` in tests). */
  clock: Clock;
  /** Receives one line per packet, without a trailing newline. */
  log?: (line: string) => void;
  /** Receives the pcap file's bytes: the global header at once, then one record per packet. */
  pcap?: PcapSink;
  /** Most bytes captured per packet (default 65535). */
  snaplen?: number;
  /** Put in front of every log line (to tell several sniffers apart). */
  prefix?: string;
  /** Overrides the capture link type chosen from the lower link (see the file comment). */
  linkType?: number;
}

export class SnifferEndpoint implements LinkEndpoint, NetworkDispatcher {
  /** The capture's link type (LINKTYPE_ETHERNET or LINKTYPE_RAW unless overridden). */
  readonly linkType: number;
  readonly stats = { sent: 0, received: 0 };

  private dispatcher: NetworkDispatcher | undefined;
  private readonly pcapWriter: PcapWriter | undefined;
  private readonly frames: boolean;
  private readonly ethernet: boolean;
  private readonly clock: Clock;
  private readonly log: ((line: string) => void) | undefined;
  private readonly prefix: string;
  /** Scratch for a synthesized Ethernet header: `writePacket` copies it, so one is enough. */
  private readonly hdr = new Uint8Array(ETHERNET_HEADER_LENGTH);

  constructor(
    readonly lower: LinkEndpoint,
    opts: SnifferOptions,
  ) {
    this.frames = lower.carriesFrames === true;
    this.ethernet = !this.frames && (lower.capabilities & LinkCapability.ResolutionRequired) !== 0;
    this.linkType = opts.linkType ?? (this.frames || this.ethernet ? LINKTYPE_ETHERNET : LINKTYPE_RAW);
    this.clock = opts.clock;
    this.log = opts.log;
    this.prefix = opts.prefix ?? "";
    if (opts.pcap) {
      this.pcapWriter = new PcapWriter(
        opts.pcap,
        opts.snaplen === undefined
          ? { linkType: this.linkType }
          : { linkType: this.linkType, snaplen: opts.snaplen },
      );
    }
  }

  get mtu(): number {
    return this.lower.mtu;
  }
  get capabilities(): number {
    return this.lower.capabilities;
  }
  get maxHeaderLength(): number {
    return this.lower.maxHeaderLength;
  }
  get linkAddress(): LinkAddress {
    return this.lower.linkAddress;
  }
  get gsoMaxSize(): number {
    return this.lower.gsoMaxSize ?? 0;
  }
  get carriesFrames(): boolean {
    return this.frames;
  }

  attach(dispatcher: NetworkDispatcher | undefined): void {
    this.dispatcher = dispatcher;
    this.lower.attach(dispatcher ? this : undefined);
  }

  isAttached(): boolean {
    return this.dispatcher !== undefined;
  }

  writePackets(pkts: readonly PacketBuffer[]): number {
    for (const pkt of pkts) {
      this.stats.sent++;
      this.record("send", pkt.networkProtocol, pkt);
    }
    return this.lower.writePackets(pkts);
  }

  beginBatch(): void {
    this.dispatcher?.beginBatch?.();
  }

  endBatch(): void {
    this.dispatcher?.endBatch?.();
  }

  deliverNetworkPacket(protocol: number, pkt: PacketBuffer): void {
    const d = this.dispatcher;
    if (!d) return;
    this.stats.received++;
    this.record("recv", protocol, pkt);
    d.deliverNetworkPacket(protocol, pkt);
  }

  wait(): Promise<void> {
    return this.lower.wait?.() ?? Promise.resolve();
  }

  close(): void {
    this.lower.close?.();
  }

  private record(dir: Direction, protocol: number, pkt: PacketBuffer): void {
    if (this.log) this.log(formatPacket(dir, protocol, pkt.bytes(), this.frames, this.prefix));
    const w = this.pcapWriter;
    if (!w) return;
    const ts = this.clock.wallNow();
    if (!this.ethernet) {
      w.writePacket(ts, pkt.bytes());
      return;
    }
    const lh = pkt.linkHeader;
    if (dir === "recv" && lh >= 0 && pkt.head - lh === ETHERNET_HEADER_LENGTH) {
      w.writePacket(ts, pkt.data.subarray(lh, pkt.tail));
      return;
    }
    // Outbound (or inbound without a recorded header): the header the Ethernet link writes.
    const dst =
      dir === "send" ? (pkt.linkDst ?? LinkAddress.BROADCAST) : (pkt.linkDst ?? this.lower.linkAddress);
    const src = dir === "send" ? this.lower.linkAddress : pkt.linkSrc;
    this.hdr.fill(0);
    if (dst.length === 6) this.hdr.set(dst.bytes, 0);
    if (src?.length === 6) this.hdr.set(src.bytes, 6);
    this.hdr[12] = (protocol >>> 8) & 0xff;
    this.hdr[13] = protocol & 0xff;
    w.writePacket(ts, pkt.bytes(), this.hdr);
  }
}
