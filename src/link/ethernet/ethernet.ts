/**
 * Ethernet II framing (RFC 894) over a frame-level link: a `ChannelEndpoint`
 * in "frame" mode, a TAP device, or anything else whose packets are whole
 * frames (`carriesFrames`).
 *
 * Inbound it checks and strips the 14-byte header, records it on the packet
 * (`linkHeader`, `linkSrc`, `linkDst`, `linkBroadcastOrMulticast`), and drops
 * frames addressed to another station's unicast MAC unless promiscuous. Every
 * group-addressed frame is accepted (like a NIC in all-multicast mode); the
 * network layer decides which groups it joined. Outbound it prepends the
 * header into the packet's headroom, to `pkt.linkDst` (resolved by ARP/NDP
 * above) or to the broadcast address when that is unset.
 *
 * Offsets come from src/header/ethernet.ts; the header is read with plain
 * byte arithmetic so no view or address object is made per frame.
 * Frames are not padded to the 60-byte minimum: TAP devices and channels do
 * not need it, and IP drops the padding it receives via its total length.
 * Bad frames are counted in `stats` and dropped, never thrown.
 */
import type { PacketBuffer } from "../../buffer/packet-buffer.ts";
import {
  ETHERNET_ADDRESS_SIZE,
  ETHERNET_DST_OFFSET,
  ETHERNET_HEADER_SIZE,
  ETHERNET_SRC_OFFSET,
  ETHERNET_TYPE_OFFSET,
} from "../../header/ethernet.ts";
import { ErrInvalidOptionValue } from "../../tcpip/errors.ts";
import { LinkAddress } from "../../tcpip/link-address.ts";
import { LinkCapability, type LinkEndpoint, type NetworkDispatcher } from "../link-endpoint.ts";

export const ETHERNET_HEADER_LENGTH = ETHERNET_HEADER_SIZE;
const DST_OFFSET = ETHERNET_DST_OFFSET;
const SRC_OFFSET = ETHERNET_SRC_OFFSET;
const TYPE_OFFSET = ETHERNET_TYPE_OFFSET;
const MAC_LENGTH = ETHERNET_ADDRESS_SIZE;
/** IEEE 802.3 §3.2.6: values below 0x0600 in the type field are 802.3 lengths, not EtherTypes. */
const MIN_ETHERTYPE = 0x0600;

export interface EthernetOptions {
  /** This station's MAC (default: the lower link's `linkAddress`, which must then be 6 bytes). */
  linkAddress?: LinkAddress;
  /** Accept unicast frames for any MAC (default false). */
  promiscuous?: boolean;
}

export class EthernetEndpoint implements LinkEndpoint, NetworkDispatcher {
  readonly linkAddress: LinkAddress;
  readonly stats = {
    /** Frames delivered up. */
    rxFrames: 0,
    /** Frames shorter than the header. */
    rxMalformed: 0,
    /** Unicast frames for another MAC (not promiscuous). */
    rxNotForUs: 0,
    /** 802.3 length-field frames (LLC/SNAP), which this link does not speak. */
    rxUnsupported: 0,
    /** Frames passed to the lower link (accepted or not). */
    txFrames: 0,
    /** Outbound packets without a network protocol (no EtherType to write). */
    txNoProtocol: 0,
  };

  private dispatcher: NetworkDispatcher | undefined;
  private promiscuous: boolean;
  private readonly mac: Uint8Array;
  /** One-entry cache so a stream of frames from one peer does not allocate a `LinkAddress` each. */
  private lastSrc: LinkAddress | undefined;
  private lastDst: LinkAddress | undefined;

  constructor(
    readonly lower: LinkEndpoint,
    opts: EthernetOptions = {},
  ) {
    const mac = opts.linkAddress ?? lower.linkAddress;
    if (mac.length !== MAC_LENGTH) throw new ErrInvalidOptionValue();
    this.linkAddress = mac;
    this.mac = mac.bytes;
    this.promiscuous = opts.promiscuous ?? false;
  }

  get mtu(): number {
    return this.lower.mtu;
  }

  get capabilities(): number {
    return this.lower.capabilities | LinkCapability.ResolutionRequired | LinkCapability.Promiscuous;
  }

  get maxHeaderLength(): number {
    return ETHERNET_HEADER_LENGTH + this.lower.maxHeaderLength;
  }

  get gsoMaxSize(): number {
    return this.lower.gsoMaxSize ?? 0;
  }

  get isPromiscuous(): boolean {
    return this.promiscuous;
  }

  setPromiscuous(on: boolean): void {
    this.promiscuous = on;
  }

  attach(dispatcher: NetworkDispatcher | undefined): void {
    this.dispatcher = dispatcher;
    this.lower.attach(dispatcher ? this : undefined);
  }

  isAttached(): boolean {
    return this.dispatcher !== undefined;
  }

  /** Prepends each packet's Ethernet header, then writes the batch to the lower link. */
  writePackets(pkts: readonly PacketBuffer[]): number {
    let batch = pkts;
    let skipped = 0;
    for (const pkt of pkts) {
      if (pkt.networkProtocol === 0) skipped++;
    }
    if (skipped > 0) {
      this.stats.txNoProtocol += skipped;
      batch = pkts.filter((p) => p.networkProtocol !== 0);
    }
    for (const pkt of batch) {
      const off = pkt.prepend(ETHERNET_HEADER_LENGTH);
      const b = pkt.data;
      b.set((pkt.linkDst ?? LinkAddress.BROADCAST).bytes, off + DST_OFFSET);
      b.set(this.mac, off + SRC_OFFSET);
      b[off + TYPE_OFFSET] = (pkt.networkProtocol >>> 8) & 0xff;
      b[off + TYPE_OFFSET + 1] = pkt.networkProtocol & 0xff;
      pkt.linkHeader = off;
      pkt.linkSrc = this.linkAddress;
    }
    this.stats.txFrames += batch.length;
    return batch.length === 0 ? 0 : this.lower.writePackets(batch);
  }

  beginBatch(): void {
    this.dispatcher?.beginBatch?.();
  }

  endBatch(): void {
    this.dispatcher?.endBatch?.();
  }

  /** Called by the lower link with one whole frame; the protocol argument is ignored. */
  deliverNetworkPacket(_protocol: number, pkt: PacketBuffer): void {
    const d = this.dispatcher;
    if (!d) return;
    if (pkt.size < ETHERNET_HEADER_LENGTH) {
      this.stats.rxMalformed++;
      return;
    }
    const b = pkt.data;
    const h = pkt.head;
    const type = (b[h + TYPE_OFFSET]! << 8) | b[h + TYPE_OFFSET + 1]!;
    if (type < MIN_ETHERTYPE) {
      this.stats.rxUnsupported++;
      return;
    }
    const group = (b[h + DST_OFFSET]! & 1) === 1;
    const toUs = this.sameMac(b, h + DST_OFFSET, this.mac);
    if (!group && !toUs && !this.promiscuous) {
      this.stats.rxNotForUs++;
      return;
    }
    pkt.linkHeader = h;
    pkt.linkDst = toUs ? this.linkAddress : this.dstAddress(b, h);
    pkt.linkSrc = this.srcAddress(b, h);
    pkt.linkBroadcastOrMulticast = group;
    pkt.networkProtocol = type;
    pkt.consume(ETHERNET_HEADER_LENGTH);
    this.stats.rxFrames++;
    d.deliverNetworkPacket(type, pkt);
  }

  wait(): Promise<void> {
    return this.lower.wait?.() ?? Promise.resolve();
  }

  close(): void {
    this.lower.close?.();
  }

  private sameMac(b: Uint8Array, off: number, mac: Uint8Array): boolean {
    for (let i = 0; i < MAC_LENGTH; i++) if (b[off + i] !== mac[i]) return false;
    return true;
  }

  private srcAddress(b: Uint8Array, h: number): LinkAddress {
    const last = this.lastSrc;
    if (last && this.sameMac(b, h + SRC_OFFSET, last.bytes)) return last;
    const a = LinkAddress.fromBytes(b, h + SRC_OFFSET, MAC_LENGTH);
    this.lastSrc = a;
    return a;
  }

  private dstAddress(b: Uint8Array, h: number): LinkAddress {
    if (this.sameMac(b, h + DST_OFFSET, LinkAddress.BROADCAST.bytes)) return LinkAddress.BROADCAST;
    const last = this.lastDst;
    if (last && this.sameMac(b, h + DST_OFFSET, last.bytes)) return last;
    const a = LinkAddress.fromBytes(b, h + DST_OFFSET, MAC_LENGTH);
    this.lastDst = a;
    return a;
  }
}
