import type { PacketBuffer } from "../buffer/packet-buffer.ts";
import type { LinkAddress } from "../tcpip/link-address.ts";

/**
 * The contract between a link endpoint and the stack above it. Every link
 * (channel, loopback, sniffer, waitable, fdbased, sharedmem) implements
 * `LinkEndpoint`; the stack's NIC implements `NetworkDispatcher`.
 *
 * Inbound: the link calls `dispatcher.deliverNetworkPacket` synchronously for
 * each packet, with `pkt.head` at the network header (an Ethernet link strips
 * its header first and records it in `pkt.linkHeader`, `linkSrc`, `linkDst`).
 * The stack copies what it keeps, unless the link set `pkt.dataKeepable` (it
 * will never write those bytes again; issue 10).
 *
 * Outbound: the stack calls `writePackets` with packets whose `head` is at the
 * network header and `networkProtocol` set; an Ethernet link prepends its
 * header into the headroom using `pkt.linkDst` (resolved by ARP/NDP above).
 */
export interface NetworkDispatcher {
  deliverNetworkPacket(protocol: number, pkt: PacketBuffer): void;
  /**
   * Optional (issue 10): a link that delivers packets in batches (one drain
   * of its fd) calls `beginBatch` before the first packet of a batch and
   * `endBatch` after the last, in a `finally`. Work that can wait for the
   * whole batch (TCP's ACKs and sends) is then done once per batch rather than
   * once per packet, as Linux coalesces per NAPI poll. Calls nest; a link
   * without batches calls neither, and every packet is finished at once.
   */
  beginBatch?(): void;
  endBatch?(): void;
}

/** Capability bits a link advertises (gVisor's `LinkEndpointCapabilities`). */
export const LinkCapability = {
  None: 0,
  /** The link verifies inbound checksums; the stack may skip them. */
  RXChecksumOffload: 1 << 0,
  /** The link computes outbound checksums; the stack may leave them partial. */
  TXChecksumOffload: 1 << 1,
  /** The link needs link-address resolution (ARP/NDP): it is Ethernet. */
  ResolutionRequired: 1 << 2,
  /** Packets written are looped back (the loopback link). */
  Loopback: 1 << 3,
  /** The link accepts TCP super-segments with `pkt.gso` set and segments them (TSO/GSO). */
  HardwareGSO: 1 << 4,
  /** The link can be asked to see frames for any destination MAC. */
  Promiscuous: 1 << 5,
} as const;

export interface LinkEndpoint {
  /** Largest network-layer packet the link carries (without its own header). */
  readonly mtu: number;
  readonly capabilities: number;
  /** Bytes the link prepends (14 for Ethernet, 0 for IP-mode links). */
  readonly maxHeaderLength: number;
  /** This link's own address (empty for IP-mode links). */
  readonly linkAddress: LinkAddress;
  /** Largest super-segment accepted with `HardwareGSO` (0 otherwise). */
  readonly gsoMaxSize?: number;
  /**
   * True for a frame-level link: packets in both directions are whole
   * Ethernet frames (`head` at the Ethernet header, the protocol argument
   * meaningless). Such a link sits under `EthernetEndpoint` (src/link/ethernet),
   * and the sniffer writes its pcap as LINKTYPE_ETHERNET. Absent means false.
   */
  readonly carriesFrames?: boolean;
  /**
   * True when `writePackets` is done with every packet when it returns: it has written or copied the
   * bytes it needs and keeps no reference to any packet or its `data` (the fdbased link writes each
   * packet during the call). The NIC then marks each packet it handed over `consumedByLink`, and the
   * writer may reuse the buffer for its next packet instead of allocating one (issue 10). Absent means
   * false: the link may keep packets (channel, loopback, pipe, a queue). Deliberately not a
   * `LinkCapability` bit: wrappers (sniffer, waitable, ethernet) pass `capabilities` through, and a
   * wrapper that queues or logs packets must not inherit this; one that keeps nothing may forward it.
   */
  readonly synchronousWrite?: boolean;

  /** Starts delivering inbound packets to `dispatcher`; `undefined` detaches. */
  attach(dispatcher: NetworkDispatcher | undefined): void;
  isAttached(): boolean;

  /**
   * Sends packets. Returns how many were accepted; the rest were dropped
   * (counted by the caller). Never throws for a full queue.
   */
  writePackets(pkts: readonly PacketBuffer[]): number;

  /** Waits for in-flight work to finish (waitable, fdbased). Resolves at once elsewhere. */
  wait?(): Promise<void>;

  /** Releases the link's resources. */
  close?(): void;
}
