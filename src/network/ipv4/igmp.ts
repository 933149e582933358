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
import type { Timer } from "../../tcpip/clock.ts";
import { IPV4_PROTOCOL_NUMBER } from "../../tcpip/protocols.ts";
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

interface Membership {
  group: Address;
  timer: Timer | undefined;
  /** Whether we sent the last report for it (RFC 2236 §6 "flag that we were the last host to report"). */
  lastReporter: boolean;
}

export class Igmp {
  private readonly groups = new Map<string, Membership>();
  /** Counters, for tests and diagnostics (the stats tree has no IGMP section). */
  readonly counters = {
    reportsSent: 0,
    leavesSent: 0,
    queriesReceived: 0,
    reportsReceived: 0,
    malformedReceived: 0,
  };

  constructor(private readonly ep: Ipv4Endpoint) {}

  private get clock() {
    return this.ep.nic.stack.clock;
  }

  private random(maxMs: number): number {
    return maxMs <= 0 ? 0 : this.ep.nic.stack.random.u32() % maxMs;
  }

  /** RFC 2236 §3: "When a host joins a multicast group, it should immediately transmit an unsolicited Version 2 Membership Report ... repeated once or twice after short delays". */
  joined(group: Address): void {
    if (group.equals(ALL_SYSTEMS) || this.groups.has(group.key)) return;
    const m: Membership = { group, timer: undefined, lastReporter: false };
    this.groups.set(group.key, m);
    this.report(m);
    this.schedule(m, this.random(UNSOLICITED_REPORT_INTERVAL_MS));
  }

  /** RFC 2236 §3: "When a host leaves a multicast group, if it was the last host to reply to a Query with a Membership Report for that group, it SHOULD send a Leave Group message to the all-routers multicast group". */
  left(group: Address): void {
    const m = this.groups.get(group.key);
    if (!m) return;
    m.timer?.stop();
    this.groups.delete(group.key);
    if (m.lastReporter) this.send(IGMP_LEAVE_GROUP, group, ALL_ROUTERS);
  }

  /** Stops every timer (NIC disabled). */
  clear(): void {
    for (const m of this.groups.values()) m.timer?.stop();
    this.groups.clear();
  }

  private schedule(m: Membership, delayMs: number): void {
    // RFC 2236 §3: a pending report is reset only if the new delay is shorter.
    if (m.timer?.pending) return;
    m.timer = this.clock.afterFunc(delayMs, () => {
      if (this.groups.get(m.group.key) === m) this.report(m);
    });
  }

  private report(m: Membership): void {
    if (this.send(IGMP_V2_MEMBERSHIP_REPORT, m.group, m.group)) m.lastReporter = true;
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
        const tenths = b[off + 1]! || V1_MAX_RESPONSE_TENTHS;
        const maxMs = tenths * 100;
        // RFC 2236 §3: a General Query (group 0) asks about every group; a Group-Specific one about one.
        for (const m of this.groups.values()) {
          if (!group.isUnspecified && !group.equals(m.group)) continue;
          const left = m.timer?.pending ? undefined : this.random(maxMs);
          if (left !== undefined) this.schedule(m, left);
        }
        return;
      }
      case IGMP_V1_MEMBERSHIP_REPORT:
      case IGMP_V2_MEMBERSHIP_REPORT: {
        this.counters.reportsReceived++;
        // RFC 2236 §3: "If the host receives another host's Report ... while it has a timer running, it
        // stops its timer for the specified group and does not send a Report".
        const m = this.groups.get(group.key);
        if (m?.timer?.pending) {
          m.timer.stop();
          m.lastReporter = false;
        }
        return;
      }
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
