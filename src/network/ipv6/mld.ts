/**
 * Multicast Listener Discovery, host side, version 1 (RFC 2710) — the IPv6
 * twin of IGMPv2 (src/network/ipv4/igmp.ts): a Report when a group is joined
 * (repeated once after a random delay), answers to Queries after a random
 * delay with suppression when another listener answered first, and Done when
 * we were the last to report a group we leave. MLDv2 queriers accept MLDv1
 * listeners (RFC 3810 §8), and an MLDv2 query is answered as a version 1 one
 * (its first 24 bytes are an MLDv1 query). Without MLD, switches that snoop it
 * may not forward solicited-node multicast to us.
 */
import type { PacketBuffer } from "../../buffer/packet-buffer.ts";
import { MLD_SIZE, MldMessage } from "../../header/icmpv6.ts";
import { encodeIpv6, IPV6_HEADER_SIZE } from "../../header/ipv6.ts";
import { IPV6_HOP_BY_HOP, IPV6_OPTION_PADN, IPV6_OPTION_ROUTER_ALERT } from "../../header/ipv6-extension.ts";
import type { TransportPacketInfo } from "../../stack/registration.ts";
import { Address } from "../../tcpip/address.ts";
import type { Clock } from "../../tcpip/clock.ts";
import { ICMPV6_PROTOCOL_NUMBER, IPV6_PROTOCOL_NUMBER } from "../../tcpip/protocols.ts";
import type { Random } from "../../tcpip/random.ts";
import { type GroupMembershipHost, GroupMemberships } from "../multicast/group-membership.ts";
import type { Ipv6Endpoint } from "./endpoint.ts";

export const MLD_QUERY = 130;
export const MLD_REPORT = 131;
export const MLD_DONE = 132;
/** MLDv2 report (RFC 3810 §5.2); counted for suppression purposes only as "another listener". */
export const MLD_V2_REPORT = 143;
/** RFC 2710 §7.10: Unsolicited Report Interval, 10 s. */
export const MLD_UNSOLICITED_REPORT_INTERVAL_MS = 10_000;
/** RFC 2711 §2.1: Router Alert value 0 means "Datagram contains a Multicast Listener Discovery message". */
const HOP_BY_HOP_ROUTER_ALERT = Uint8Array.of(
  ICMPV6_PROTOCOL_NUMBER,
  0,
  IPV6_OPTION_ROUTER_ALERT,
  2,
  0,
  0,
  IPV6_OPTION_PADN,
  0,
);

export class Mld implements GroupMembershipHost {
  private readonly groups = new GroupMemberships(this, MLD_UNSOLICITED_REPORT_INTERVAL_MS);
  /** Counters, for tests and diagnostics (the stats tree has no MLD section). */
  readonly counters = {
    reportsSent: 0,
    donesSent: 0,
    queriesReceived: 0,
    reportsReceived: 0,
    malformedReceived: 0,
  };

  constructor(private readonly ep: Ipv6Endpoint) {}

  get clock(): Clock {
    return this.ep.proto.stack.clock;
  }

  get random(): Random {
    return this.ep.proto.stack.random;
  }

  /**
   * RFC 2710 §5: "never sent for the link-scope all-nodes address (FF02::1)
   * ... nor for any multicast address of scope 0 (reserved) or 1 (node-local)".
   */
  private static reportable(group: Address): boolean {
    const scope = group.bytes[1]! & 0x0f;
    return group.isMulticast && !group.equals(Address.ALL_NODES_V6) && scope > 1;
  }

  joined(group: Address): void {
    if (this.ep.proto.opts.mld && Mld.reportable(group)) this.groups.join(group);
  }

  left(group: Address): void {
    this.groups.leave(group);
  }

  /** Stops every timer (NIC disabled). */
  clear(): void {
    this.groups.clear();
  }

  /** Groups we report, for tests and diagnostics. */
  memberships(): Address[] {
    return this.groups.list();
  }

  sendReport(group: Address): boolean {
    return this.send(MLD_REPORT, group, group);
  }

  /** RFC 2710 §4: Done goes to the link-scope all-routers address. */
  sendLeave(group: Address): void {
    this.send(MLD_DONE, group, Address.ALL_ROUTERS_V6);
  }

  /** An MLD message (`pkt.head` at the ICMPv6 header, checksum already verified). */
  handlePacket(pkt: PacketBuffer, info: TransportPacketInfo, type: number): void {
    const b = pkt.data;
    const off = pkt.head;
    // RFC 2710 §3: link-local source, Hop Limit 1; 24 bytes at least (an MLDv2 query is longer).
    if (pkt.size < MLD_SIZE || info.ttl !== 1 || !(info.src.isLinkLocalUnicast || info.src.isUnspecified)) {
      this.counters.malformedReceived++;
      return;
    }
    const group = Address.fromBytes(b, off + 8, 16);
    switch (type) {
      case MLD_QUERY: {
        if (!info.src.isLinkLocalUnicast) {
          this.counters.malformedReceived++;
          return;
        }
        this.counters.queriesReceived++;
        // A General Query (group ::) asks about every group; a Multicast-Address-Specific one about one.
        this.groups.query(
          group,
          maxResponseDelayMs(new MldMessage(b, off).maxResponseDelay, pkt.size > MLD_SIZE),
        );
        return;
      }
      case MLD_REPORT:
        this.counters.reportsReceived++;
        this.groups.reportHeard(group);
        return;
      default:
        // Done, MLDv2 reports: routers' business.
        return;
    }
  }

  /** Sends one MLD message: Hop Limit 1, Hop-by-Hop Router Alert, link-local (or unspecified) source. */
  private send(type: number, group: Address, dst: Address): boolean {
    const nic = this.ep.nic;
    // RFC 2710 §3: "MLD messages are sent with a link-local IPv6 Source Address"; RFC 3590 §4 allows
    // the unspecified address while the link-local address is still tentative.
    const src =
      nic
        .addresses(IPV6_PROTOCOL_NUMBER)
        .find((a) => a.address.isLinkLocalUnicast && nic.hasAddress(a.address))?.address ?? Address.ANY_V6;
    if (src.isUnspecified && type === MLD_DONE) return false;
    const pkt = this.ep.icmp.buildPayload(src, dst, MLD_SIZE, (b, off) => {
      b[off] = type;
      b.set(group.bytes, off + 8);
    });
    const hbh = pkt.prepend(HOP_BY_HOP_ROUTER_ALERT.length);
    pkt.data.set(HOP_BY_HOP_ROUTER_ALERT, hbh);
    const n = pkt.prepend(IPV6_HEADER_SIZE);
    encodeIpv6(pkt.data, n, {
      payloadLength: HOP_BY_HOP_ROUTER_ALERT.length + MLD_SIZE,
      nextHeader: IPV6_HOP_BY_HOP,
      hopLimit: 1,
      src,
      dst,
    });
    pkt.networkHeader = n;
    pkt.networkProtocol = IPV6_PROTOCOL_NUMBER;
    this.ep.sendToLink(pkt, dst, undefined);
    this.ep.stats.icmp.v6.packetsSent++;
    if (type === MLD_DONE) this.counters.donesSent++;
    else this.counters.reportsSent++;
    return true;
  }
}

/**
 * Maximum Response Delay in ms: MLDv1 gives it directly (RFC 2710 §3.4); an
 * MLDv2 query encodes large values as mantissa and exponent (RFC 3810 §5.1.3).
 */
export function maxResponseDelayMs(code: number, v2: boolean): number {
  if (!v2 || code < 32768) return code;
  const mant = code & 0x0fff;
  const exp = (code >> 12) & 0x7;
  return (mant | 0x1000) << (exp + 3);
}
