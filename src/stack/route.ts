/**
 * A resolved route (`Stack.findRoute`): where a transport endpoint's packets
 * go. `writePacket` hands the packet to the network endpoint of the route's
 * NIC, which adds its header and writes through the neighbour cache.
 */
import type { PacketBuffer } from "../buffer/packet-buffer.ts";
import { pseudoHeaderChecksum } from "../header/checksum.ts";
import type { Address } from "../tcpip/address.ts";
import type { LinkAddress } from "../tcpip/link-address.ts";
import type { NetworkProtocolNumber, NICID, TransportProtocolNumber } from "../tcpip/protocols.ts";
import type { NIC } from "./nic.ts";
import type { NetworkEndpoint, NetworkHeaderParams, Route } from "./registration.ts";
import type { Stack } from "./stack.ts";

/** Largest IP datagram (RFC 791 §3.1 Total Length is 16 bits). */
const MAX_IP_PACKET = 65535;

export class StackRoute implements Route {
  readonly nic: NICID;
  readonly mtu: number;
  readonly maxHeaderLength: number;
  readonly capabilities: number;
  readonly gsoMaxSize: number;
  readonly localLinkAddress: LinkAddress;
  private readonly generation: number;

  constructor(
    private readonly stack: Stack,
    private readonly nicRef: NIC,
    private readonly endpoint: NetworkEndpoint,
    readonly netProto: NetworkProtocolNumber,
    readonly localAddress: Address,
    readonly remoteAddress: Address,
    readonly nextHop: Address,
    readonly loopback: boolean,
    readonly defaultTtl: number,
  ) {
    this.nic = nicRef.id;
    const link = nicRef.link;
    this.maxHeaderLength = link.maxHeaderLength + endpoint.maxHeaderLength;
    // Packets to our own addresses never meet a link, so they need no fragmentation.
    this.mtu = (loopback ? MAX_IP_PACKET : link.mtu) - endpoint.maxHeaderLength;
    this.capabilities = link.capabilities;
    this.gsoMaxSize = link.gsoMaxSize ?? 0;
    this.localLinkAddress = link.linkAddress;
    this.generation = stack.routeGeneration;
  }

  /** Whether routes, addresses or NICs changed since this route was made (ask `findRoute` again). */
  get stale(): boolean {
    return this.generation !== this.stack.routeGeneration || !this.valid;
  }

  /** Whether the NIC still exists and is up. */
  get valid(): boolean {
    return !this.nicRef.removed && this.nicRef.enabled;
  }

  writePacket(pkt: PacketBuffer, params: NetworkHeaderParams): void {
    if (!this.valid) {
      this.stack.stats.ip.outgoingPacketErrors++;
      this.stack.stats.droppedPackets++;
      return;
    }
    pkt.nic = this.nic;
    this.endpoint.writePacket(this, pkt, params);
  }

  writeHeaderIncludedPacket(
    pkt: PacketBuffer,
    forwarded = false,
    onUnresolved?: (pkt: PacketBuffer) => void,
  ): void {
    if (!this.valid) {
      this.stack.stats.ip.outgoingPacketErrors++;
      this.stack.stats.droppedPackets++;
      return;
    }
    pkt.nic = this.nic;
    pkt.networkHeader = pkt.head;
    if (forwarded) this.stack.stats.ip.packetsForwarded++;
    else this.stack.stats.ip.packetsSent++;
    this.nicRef.writeToNextHop(
      pkt,
      this.netProto,
      this.nextHop,
      this.localAddress,
      onUnresolved,
      forwarded ? "forwarded" : "outbound",
    );
  }

  pseudoHeaderChecksum(protocol: TransportProtocolNumber, length: number): number {
    return pseudoHeaderChecksum(protocol, this.localAddress, this.remoteAddress, length);
  }

  /** The NIC object behind this route (for protocols that need its neighbour cache). */
  get nicContext(): NIC {
    return this.nicRef;
  }

  confirmReachable(): void {
    this.nicRef.neighborCache(this.netProto)?.handleUpperLevelConfirmation(this.nextHop);
  }

  release(): void {}
}
