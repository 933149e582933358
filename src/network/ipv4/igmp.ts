/**
 * IGMPv2 host side (RFC 2236): a host tells routers which groups it wants by
 * Membership Reports, answers queries after a random delay, keeps quiet when
 * another member already answered (report suppression), and says Leave Group
 * when its last member goes. Without it, joined groups work only on links
 * without IGMP-snooping switches or multicast routers.
 */
import { PacketBuffer } from "../../buffer/packet-buffer.ts";
import { checksum, finishChecksum } from "../../header/checksum.ts";
import { encodeIpv4, IPV4_OPTION_ROUTER_ALERT } from "../../header/ipv4.ts";
import { Address } from "../../tcpip/address.ts";
import type { Clock } from "../../tcpip/clock.ts";
import { IPV4_PROTOCOL_NUMBER } from "../../tcpip/protocols.ts";
import type { Random } from "../../tcpip/random.ts";
import { type GroupMembershipHost, GroupMemberships } from "../multicast/group-membership.ts";
import type { Ipv4Endpoint } from "./ipv4.ts";

export const IGMP_PROTOCOL_NUMBER = 2;
export const IGMP_MEMBERSHIP_QUERY = 0x11;
export const IGMP_V1_MEMBERSHIP_REPORT = 0x12;
export const IGMP_V2_MEMBERSHIP_REPORT = 0x16;
export const IGMP_LEAVE_GROUP = 0x17;
const IGMP_SIZE = 8;
/** RFC 2236 §8.10: Unsolicited Report Interval, 10 s. */
export const UNSOLICITED_REPORT_INTERVAL_MS = 10_000;
/** RFC 2236 §4: a version 1 query has Max Response Time 0, meaning 10 s (100 tenths). */
const V1_MAX_RESPONSE_TENTHS = 100;
/** 224.0.0.1: never reported (RFC 2236 §6 "The all-systems group ... no reports are sent"). */
const ALL_SYSTEMS = Address.v4(224, 0, 0, 1);
/** 224.0.0.2: where Leave Group goes (RFC 2236 §3). */
const ALL_ROUTERS = Address.v4(224, 0, 0, 2);
/** Router Alert (RFC 2113), required on IGMPv2 messages (RFC 2236 §2). */
const ROUTER_ALERT = Uint8Array.of(IPV4_OPTION_ROUTER_ALERT, 4, 0, 0);

export class Igmp implements GroupMembershipHost {
  private readonly memberships = new GroupMemberships(this, UNSOLICITED_REPORT_INTERVAL_MS);
  /** Counters, for tests and diagnostics (the stats tree has no IGMP section). */
  readonly counters = {
    reportsSent: 0,
    leavesSent: 0,
    queriesReceived: 0,
    reportsReceived: 0,
    malformedReceived: 0,
  };

  constructor(private readonly ep: Ipv4Endpoint) {}

  get clock(): Clock {
    return this.ep.nic.stack.clock;
  }

  get random(): Random {
    return this.ep.nic.stack.random;
  }

  /** RFC 2236 §6: "The all-systems group (address 224.0.0.1) is handled as a special case ... no reports are sent". */
  joined(group: Address): void {
    if (!group.equals(ALL_SYSTEMS)) this.memberships.join(group);
  }

  left(group: Address): void {
    this.memberships.leave(group);
  }

  /** Stops every timer (NIC disabled). */
  clear(): void {
    this.memberships.clear();
  }

  sendReport(group: Address): boolean {
    return this.send(IGMP_V2_MEMBERSHIP_REPORT, group, group);
  }

  /** RFC 2236 §3: Leave Group goes "to the all-routers multicast group (224.0.0.2)". */
  sendLeave(group: Address): void {
    this.send(IGMP_LEAVE_GROUP, group, ALL_ROUTERS);
  }

  /** An IGMP message for us (`pkt.head` at the IGMP header). */
  handlePacket(pkt: PacketBuffer): void {
    const b = pkt.data;
    const off = pkt.head;
    const len = pkt.size;
    if (len < IGMP_SIZE || checksum(b, off, len) !== 0xffff) {
      this.counters.malformedReceived++;
      return;
    }
    const type = b[off]!;
    const group = Address.fromBytes(b, off + 4, 4);
    switch (type) {
      case IGMP_MEMBERSHIP_QUERY: {
        this.counters.queriesReceived++;
        // RFC 2236 §2.2: Max Response Time in tenths of a second; 0 is a version 1 query (§4: 10 s).
        const tenths = b[off + 1]! || V1_MAX_RESPONSE_TENTHS;
        this.memberships.query(group, tenths * 100);
        return;
      }
      case IGMP_V1_MEMBERSHIP_REPORT:
      case IGMP_V2_MEMBERSHIP_REPORT:
        this.counters.reportsReceived++;
        this.memberships.reportHeard(group);
        return;
      default:
        return;
    }
  }

  /** Sends one IGMPv2 message with TTL 1 and Router Alert (RFC 2236 §2). */
  private send(type: number, group: Address, dst: Address): boolean {
    const nic = this.ep.nic;
    const src =
      nic.primaryAddress?.(IPV4_PROTOCOL_NUMBER, dst) ?? nic.addresses(IPV4_PROTOCOL_NUMBER)[0]?.address;
    if (!src) return false;
    const hlen = 24;
    const pkt = PacketBuffer.alloc(nic.linkHeaderLength ?? 0, hlen + IGMP_SIZE);
    const b = pkt.data;
    const o = pkt.head;
    encodeIpv4(b, o, {
      totalLength: hlen + IGMP_SIZE,
      ttl: 1,
      protocol: IGMP_PROTOCOL_NUMBER,
      src,
      dst,
      options: ROUTER_ALERT,
    });
    b[o + hlen] = type;
    b[o + hlen + 1] = 0;
    b.set(group.bytes, o + hlen + 4);
    const c = finishChecksum(checksum(b, o + hlen, IGMP_SIZE));
    b[o + hlen + 2] = c >>> 8;
    b[o + hlen + 3] = c & 0xff;
    pkt.networkHeader = o;
    if (nic.writeToNextHop) nic.writeToNextHop(pkt, IPV4_PROTOCOL_NUMBER, dst, src);
    else nic.writeToLink(pkt, IPV4_PROTOCOL_NUMBER, undefined);
    nic.stack.stats.ip.packetsSent++;
    if (type === IGMP_LEAVE_GROUP) this.counters.leavesSent++;
    else this.counters.reportsSent++;
    return true;
  }
}
