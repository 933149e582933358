/**
 * The host side of group membership that IGMPv2 (RFC 2236) and MLDv1
 * (RFC 2710, "derived from version 2 of IPv4's IGMP") share: one record per
 * joined group with a report timer and a "last reporter" flag, unsolicited
 * reports on join, delayed answers to queries, suppression when another member
 * reports first, and a leave message when we were the last to report. The
 * protocols differ only in their messages, which the `GroupMembershipHost`
 * sends; the references below are to both RFCs.
 */
import type { Address } from "../../tcpip/address.ts";
import type { Clock, Timer } from "../../tcpip/clock.ts";
import type { Random } from "../../tcpip/random.ts";

/** What a protocol (IGMP, MLD) gives the shared state: time, randomness, and its messages. */
export interface GroupMembershipHost {
  readonly clock: Clock;
  readonly random: Random;
  /** Sends a membership report for `group`; false when it could not go out (no source address yet). */
  sendReport(group: Address): boolean;
  /** Sends a leave (IGMP Leave Group, MLD Done) for `group`. */
  sendLeave(group: Address): void;
}

interface Membership {
  group: Address;
  timer: Timer | undefined;
  /** When the running timer fires (clock ms); meaningful while `timer.pending`. */
  dueAt: number;
  /** RFC 2236 §6, RFC 2710 §4: "a flag indicating whether we were the last host to report". */
  lastReporter: boolean;
}

export class GroupMemberships {
  private readonly groups = new Map<string, Membership>();

  /** `unsolicitedReportIntervalMs`: RFC 2236 §8.10, RFC 2710 §7.10 (10 s both). */
  constructor(
    private readonly host: GroupMembershipHost,
    private readonly unsolicitedReportIntervalMs: number,
  ) {}

  has(group: Address): boolean {
    return this.groups.has(group.key);
  }

  /** Groups we report, for tests and diagnostics. */
  list(): Address[] {
    return [...this.groups.values()].map((m) => m.group);
  }

  /**
   * RFC 2236 §3, RFC 2710 §4: on joining, "transmit an unsolicited Report ...
   * repeated once or twice after short delays". A group already joined is left as it is.
   */
  join(group: Address): void {
    if (this.groups.has(group.key)) return;
    const m: Membership = { group, timer: undefined, dueAt: 0, lastReporter: false };
    this.groups.set(group.key, m);
    this.report(m);
    this.start(m, this.randomDelay(this.unsolicitedReportIntervalMs));
  }

  /** RFC 2236 §3, RFC 2710 §4: on leaving, a leave message "if the flag saying we were the last host to report is set". */
  leave(group: Address): void {
    const m = this.groups.get(group.key);
    if (!m) return;
    m.timer?.stop();
    this.groups.delete(group.key);
    if (m.lastReporter) this.host.sendLeave(group);
  }

  /** Forgets every group and stops every timer (NIC disabled). */
  clear(): void {
    for (const m of this.groups.values()) m.timer?.stop();
    this.groups.clear();
  }

  /**
   * A query for `group` (the unspecified address: a General Query, about
   * every group) with a maximum response delay of `maxMs`. RFC 2236 §3 and
   * RFC 2710 §4: each group's timer starts at a random value in [0, maxMs);
   * "If a timer for the group is already running, it is reset to the random
   * value only if the requested Max Response Time is less than the remaining
   * value of the running timer."
   */
  query(group: Address, maxMs: number): void {
    const now = this.host.clock.now();
    for (const m of this.groups.values()) {
      if (!group.isUnspecified && !group.equals(m.group)) continue;
      if (m.timer?.pending) {
        if (maxMs >= m.dueAt - now) continue;
        m.timer.stop();
      }
      this.start(m, this.randomDelay(maxMs));
    }
  }

  /**
   * Another member's report for `group`. RFC 2236 §3: "If the host receives
   * another host's Report ... while it has a timer running, it stops its timer
   * for the specified group and does not send a Report"; it is no longer the
   * last reporter (RFC 2710 §4 the same).
   */
  reportHeard(group: Address): void {
    const m = this.groups.get(group.key);
    if (m?.timer?.pending) {
      m.timer.stop();
      m.lastReporter = false;
    }
  }

  private randomDelay(maxMs: number): number {
    return maxMs <= 0 ? 0 : this.host.random.u32() % maxMs;
  }

  private start(m: Membership, delayMs: number): void {
    m.dueAt = this.host.clock.now() + delayMs;
    m.timer = this.host.clock.afterFunc(delayMs, () => {
      if (this.groups.get(m.group.key) === m) this.report(m);
    });
  }

  private report(m: Membership): void {
    if (this.host.sendReport(m.group)) m.lastReporter = true;
  }
}
