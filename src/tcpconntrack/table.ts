/**
 * The stack-wide connection table: every TCP connection, UDP flow and ICMP
 * echo exchange that passes the stack's packet hooks, in both directions,
 * with per-direction counters, state and timeouts like Linux's nf_conntrack.
 *
 * - Keys are strings of the 5-tuple, the same for both directions (parse.ts).
 * - TCP entries are driven by a `Tcb` (tcb.ts); UDP and ICMP echo entries are
 *   pseudo-connections that live while packets keep coming.
 * - Each state has an intrusive list ordered by last activity, so expiry and
 *   eviction look only at list heads: O(1) per packet, amortised O(1) per
 *   expired entry, no scan at 100k entries. One clock timer drives expiry.
 * - A change feed reports new entries, state changes and destroyed entries.
 *
 * Pure: time comes from the injected `Clock`; nothing here throws on packets.
 */

import { Address } from "../tcpip/address.ts";
import type { Clock, Timer } from "../tcpip/clock.ts";
import { ErrInvalidOptionValue } from "../tcpip/errors.ts";
import { ICMPV4_PROTOCOL_NUMBER, ICMPV6_PROTOCOL_NUMBER, TCP_PROTOCOL_NUMBER } from "../tcpip/protocols.ts";
import { decodeKey, FlowPacket, flowKey, PARSE_MALFORMED, PARSE_OK, parseFlowPacket } from "./parse.ts";
import {
  FLAG_ACK,
  FLAG_RST,
  FLAG_SYN,
  ResultDrop,
  TCP_CLOSE,
  TCP_CLOSE_WAIT,
  TCP_ESTABLISHED,
  TCP_FIN_WAIT,
  TCP_LAST_ACK,
  TCP_STATE_NAMES,
  TCP_SYN_RECV,
  TCP_SYN_SENT,
  TCP_SYN_SENT2,
  TCP_TIME_WAIT,
  Tcb,
} from "./tcb.ts";

/** Entry states: the TCP ones of tcb.ts (0..8), then the pseudo-connections. */
export const UDP_UNREPLIED = 9;
/** Packets seen in both directions. */
export const UDP_ASSURED = 10;
export const ICMP_UNREPLIED = 11;
export const ICMP_REPLIED = 12;
const STATE_COUNT = 13;

export const STATE_NAMES: readonly string[] = [
  ...TCP_STATE_NAMES,
  "unreplied",
  "assured",
  "unreplied",
  "replied",
];

/** Idle timeouts in milliseconds, per state (Linux's nf_conntrack_*_timeout* defaults). */
export interface ConntrackTimeouts {
  tcpSynSent: number;
  tcpSynRecv: number;
  tcpEstablished: number;
  tcpFinWait: number;
  tcpCloseWait: number;
  tcpLastAck: number;
  tcpTimeWait: number;
  tcpClose: number;
  udpUnreplied: number;
  udpAssured: number;
  icmp: number;
}

export const DEFAULT_TIMEOUTS: Readonly<ConntrackTimeouts> = {
  tcpSynSent: 120_000,
  tcpSynRecv: 60_000,
  tcpEstablished: 432_000_000,
  tcpFinWait: 120_000,
  tcpCloseWait: 60_000,
  tcpLastAck: 30_000,
  tcpTimeWait: 120_000,
  tcpClose: 10_000,
  udpUnreplied: 30_000,
  udpAssured: 120_000,
  icmp: 30_000,
};

/** The hook a packet came through: terminating at or leaving the stack, or routed through it. */
export type HookKind = "inbound" | "outbound" | "forwarded";

/** Why an entry went away. */
export type DestroyReason = "timeout" | "evicted" | "replaced" | "cleared";

/** An entry as plain data, for REST, SQLite and listeners. Field names match the store's `conntrack_flows`. */
export interface ConnectionRecord {
  id: number;
  protocol: "tcp" | "udp" | "icmp" | "icmpv6";
  ipVersion: 4 | 6;
  /** The direction that opened the flow. For ICMP the ports are the echo identifier. */
  origSrc: string;
  origSrcPort: number;
  origDst: string;
  origDstPort: number;
  state: string;
  /** Seen traffic both ways (TCP established once, UDP replied). */
  assured: boolean;
  /** Seen through the "forwarded" hook (routed, not terminating here). */
  forwarded: boolean;
  origPackets: number;
  origBytes: number;
  replyPackets: number;
  replyBytes: number;
  /** Wall-clock milliseconds since the Unix epoch. */
  firstSeen: number;
  lastSeen: number;
  /** Milliseconds until the entry times out if nothing more is seen. */
  expiresInMs: number;
}

export type ConntrackEvent =
  | { type: "new"; flow: ConnectionRecord }
  | { type: "update"; flow: ConnectionRecord; previousState: string }
  | { type: "destroy"; flow: ConnectionRecord; reason: DestroyReason };

export interface ConnTableOptions {
  clock: Clock;
  /** Bound on entries; when full, the oldest closed or idle entry makes room. Default 65536. */
  maxEntries?: number;
  timeouts?: Partial<ConntrackTimeouts>;
}

const FLAG_ORIG_FIRST = 1;
const FLAG_ASSURED = 2;
const FLAG_FORWARDED = 4;

class Entry {
  prev: Entry | undefined = undefined;
  next: Entry | undefined = undefined;
  origPackets = 0;
  origBytes = 0;
  replyPackets = 0;
  replyBytes = 0;
  lastSeen: number;
  constructor(
    readonly key: string,
    readonly id: number,
    public state: number,
    public flags: number,
    readonly firstSeen: number,
    readonly tcb: Tcb | undefined,
  ) {
    this.lastSeen = firstSeen;
  }
}

/**
 * Eviction order when the table is full (the oldest idle entry of the first non-empty class goes):
 * dead TCP connections, then flows never answered or not yet established (Linux's early_drop takes
 * unassured entries too), then closing TCP connections, then everything else.
 */
const EVICTION_CLASSES: readonly (readonly number[])[] = [
  [TCP_CLOSE, TCP_TIME_WAIT],
  [TCP_SYN_SENT, TCP_SYN_SENT2, TCP_SYN_RECV, UDP_UNREPLIED, ICMP_UNREPLIED, ICMP_REPLIED],
  [TCP_FIN_WAIT, TCP_CLOSE_WAIT, TCP_LAST_ACK],
  [TCP_ESTABLISHED, UDP_ASSURED],
];

export class ConnTable {
  readonly clock: Clock;
  readonly maxEntries: number;
  /** Counters, as plain numbers. */
  readonly stats = {
    /** Packets handed to `observe`. */
    packets: 0,
    /** Packets with broken IP or transport headers. */
    malformed: 0,
    /** Packets not tracked: not IP, later fragments, other protocols, ICMP other than echo, TCP without an entry that is not a SYN. */
    untracked: 0,
    /** Packets that do not fit their connection (the TCB said drop). */
    invalid: 0,
    created: 0,
    destroyed: 0,
    timedOut: 0,
    evicted: 0,
    /** Listeners that threw (the table carries on). */
    listenerErrors: 0,
  };

  private readonly map = new Map<string, Entry>();
  private readonly heads: (Entry | undefined)[] = new Array(STATE_COUNT).fill(undefined);
  private readonly tails: (Entry | undefined)[] = new Array(STATE_COUNT).fill(undefined);
  private readonly timeoutOf = new Array<number>(STATE_COUNT).fill(0);
  private readonly timeoutConfig: ConntrackTimeouts;
  private readonly perProtocol = { tcp: 0, udp: 0, icmp: 0 };
  private readonly listeners = new Set<(ev: ConntrackEvent) => void>();
  private readonly pkt = new FlowPacket();
  private nextId = 1;
  private timer: Timer | undefined;
  private timerAt = Number.POSITIVE_INFINITY;

  constructor(opts: ConnTableOptions) {
    this.clock = opts.clock;
    const max = opts.maxEntries ?? 65536;
    if (!Number.isInteger(max) || max < 1) throw new ErrInvalidOptionValue();
    this.maxEntries = max;
    this.timeoutConfig = { ...DEFAULT_TIMEOUTS };
    this.setTimeouts(opts.timeouts ?? {});
  }

  /** Changes timeouts (milliseconds); throws `ErrInvalidOptionValue` for a negative or unknown one. */
  setTimeouts(t: Partial<ConntrackTimeouts>): void {
    for (const [k, v] of Object.entries(t)) {
      if (!(k in DEFAULT_TIMEOUTS) || typeof v !== "number" || !(v >= 0)) throw new ErrInvalidOptionValue();
    }
    Object.assign(this.timeoutConfig, t);
    const c = this.timeoutConfig;
    const to = this.timeoutOf;
    to[TCP_SYN_SENT] = c.tcpSynSent;
    to[TCP_SYN_SENT2] = c.tcpSynSent;
    to[TCP_SYN_RECV] = c.tcpSynRecv;
    to[TCP_ESTABLISHED] = c.tcpEstablished;
    to[TCP_FIN_WAIT] = c.tcpFinWait;
    to[TCP_CLOSE_WAIT] = c.tcpCloseWait;
    to[TCP_LAST_ACK] = c.tcpLastAck;
    to[TCP_TIME_WAIT] = c.tcpTimeWait;
    to[TCP_CLOSE] = c.tcpClose;
    to[UDP_UNREPLIED] = c.udpUnreplied;
    to[UDP_ASSURED] = c.udpAssured;
    to[ICMP_UNREPLIED] = c.icmp;
    to[ICMP_REPLIED] = c.icmp;
    this.reschedule();
  }

  get timeouts(): Readonly<ConntrackTimeouts> {
    return { ...this.timeoutConfig };
  }

  get size(): number {
    return this.map.size;
  }

  /** Entries per protocol (ICMP counts ICMPv4 and ICMPv6 echo). */
  counts(): { total: number; tcp: number; udp: number; icmp: number } {
    return { total: this.map.size, ...this.perProtocol };
  }

  /**
   * Subscribes to the change feed: "new" for a new entry, "update" when its state changes, "destroy"
   * with the reason. Listeners run synchronously on the packet path (no promise, no microtask), so
   * they should only queue the event; one that throws is counted in `stats.listenerErrors`.
   * Returns the unsubscribe function.
   */
  onChange(fn: (ev: ConntrackEvent) => void): () => void {
    this.listeners.add(fn);
    return () => {
      this.listeners.delete(fn);
    };
  }

  /**
   * Tracks one network packet (`len` bytes at `off`, starting at the IP header) seen by a hook.
   * `kind` "forwarded" also marks the entry as routed. Never throws; malformed and untracked
   * packets are counted. (`attachConnTable` calls this from a stack's hooks.)
   *
   * `now`: the packet's time on the table's clock, when the caller has it at hand (the stack's
   * time of the link batch: `attachConnTable`); else the clock is read, once per tracked packet.
   */
  observe(
    kind: HookKind,
    netProto: number,
    b: Uint8Array,
    off = 0,
    len = b.length - off,
    now?: number,
  ): void {
    this.stats.packets++;
    const p = this.pkt;
    const st = parseFlowPacket(netProto, b, off, len, p);
    if (st !== PARSE_OK) {
      if (st === PARSE_MALFORMED) this.stats.malformed++;
      else this.stats.untracked++;
      return;
    }
    now ??= this.clock.now();
    let e = this.map.get(p.key);
    if (e !== undefined && now >= e.lastSeen + this.timeoutOf[e.state]!) {
      // Its timer has not run yet, but the entry is dead.
      this.destroy(e, "timeout", now);
      e = undefined;
    }
    if (p.protocol === TCP_PROTOCOL_NUMBER) this.trackTcp(e, p, now, kind);
    else if (p.protocol === ICMPV4_PROTOCOL_NUMBER || p.protocol === ICMPV6_PROTOCOL_NUMBER)
      this.trackIcmp(e, p, now, kind);
    else this.trackUdp(e, p, now, kind);
  }

  /**
   * Marks the entry of a packet the stack routed on as forwarded, without counting the packet again:
   * the stack runs the inbound hooks on every packet a NIC receives, so a routed packet was already
   * tracked there. Never throws.
   */
  markForwarded(netProto: number, b: Uint8Array, off = 0, len = b.length - off): void {
    const p = this.pkt;
    if (parseFlowPacket(netProto, b, off, len, p) !== PARSE_OK) return;
    const e = this.map.get(p.key);
    if (e !== undefined) e.flags |= FLAG_FORWARDED;
  }

  private trackTcp(e: Entry | undefined, p: FlowPacket, now: number, kind: HookKind): void {
    const seg = p.segment;
    const bareSyn = (seg.flags & (FLAG_SYN | FLAG_ACK | FLAG_RST)) === FLAG_SYN;
    if (e !== undefined && bareSyn && (e.state === TCP_TIME_WAIT || e.state === TCP_CLOSE)) {
      // RFC 9293 §3.10.7.4 / RFC 6191: a new SYN may reopen a connection in TIME-WAIT; after a reset
      // the ports are free anyway. The old entry goes and a new one starts (as Linux does).
      this.destroy(e, "replaced", now);
      e = undefined;
    }
    if (e === undefined) {
      if (!bareSyn) {
        this.stats.untracked++;
        return;
      }
      const tcb = new Tcb();
      tcb.init(seg);
      this.create(p, now, kind, tcb.state, tcb);
      return;
    }
    const tcb = e.tcb!;
    const orig = p.srcIsFirst === ((e.flags & FLAG_ORIG_FIRST) !== 0);
    if (tcb.update(orig, seg) === ResultDrop) {
      this.stats.invalid++;
      return;
    }
    // Assured once the handshake completed (a third segment carrying a FIN skips ESTABLISHED).
    if (tcb.state >= TCP_ESTABLISHED && tcb.state <= TCP_TIME_WAIT) e.flags |= FLAG_ASSURED;
    this.touch(e, p, now, kind, orig, tcb.state);
  }

  private trackUdp(e: Entry | undefined, p: FlowPacket, now: number, kind: HookKind): void {
    if (e === undefined) {
      this.create(p, now, kind, UDP_UNREPLIED, undefined);
      return;
    }
    const orig = p.srcIsFirst === ((e.flags & FLAG_ORIG_FIRST) !== 0);
    let state = e.state;
    if (!orig && state === UDP_UNREPLIED) {
      state = UDP_ASSURED;
      e.flags |= FLAG_ASSURED;
    }
    this.touch(e, p, now, kind, orig, state);
  }

  private trackIcmp(e: Entry | undefined, p: FlowPacket, now: number, kind: HookKind): void {
    if (e === undefined) {
      // A reply with no request seen is not a flow (Linux calls it invalid).
      if (!p.icmpRequest) {
        this.stats.untracked++;
        return;
      }
      this.create(p, now, kind, ICMP_UNREPLIED, undefined);
      return;
    }
    // Requests belong to the original direction, replies to the reply direction.
    const orig = p.icmpRequest;
    const state = orig ? e.state : ICMP_REPLIED;
    this.touch(e, p, now, kind, orig, state);
  }

  private create(p: FlowPacket, now: number, kind: HookKind, state: number, tcb: Tcb | undefined): void {
    if (this.map.size >= this.maxEntries) this.evictOne();
    let flags = p.srcIsFirst ? FLAG_ORIG_FIRST : 0;
    if (kind === "forwarded") flags |= FLAG_FORWARDED;
    const e = new Entry(p.key, this.nextId++, state, flags, now, tcb);
    e.origPackets = 1;
    e.origBytes = p.ipLength;
    this.map.set(p.key, e);
    this.append(e);
    this.protocolCount(e, 1);
    this.stats.created++;
    this.armFor(now + this.timeoutOf[state]!);
    if (this.listeners.size > 0) this.emit({ type: "new", flow: this.record(e, now) });
  }

  private touch(e: Entry, p: FlowPacket, now: number, kind: HookKind, orig: boolean, state: number): void {
    if (orig) {
      e.origPackets++;
      e.origBytes += p.ipLength;
    } else {
      e.replyPackets++;
      e.replyBytes += p.ipLength;
    }
    if (kind === "forwarded") e.flags |= FLAG_FORWARDED;
    e.lastSeen = now;
    const previous = e.state;
    this.unlink(e);
    e.state = state;
    this.append(e);
    if (state !== previous) {
      this.armFor(now + this.timeoutOf[state]!);
      if (this.listeners.size > 0) {
        this.emit({ type: "update", flow: this.record(e, now), previousState: STATE_NAMES[previous]! });
      }
    }
  }

  private destroy(e: Entry, reason: DestroyReason, now?: number): void {
    this.map.delete(e.key);
    this.unlink(e);
    this.protocolCount(e, -1);
    this.stats.destroyed++;
    if (reason === "timeout") this.stats.timedOut++;
    else if (reason === "evicted") this.stats.evicted++;
    if (this.listeners.size > 0)
      this.emit({ type: "destroy", flow: this.record(e, now ?? this.clock.now()), reason });
  }

  /** Makes room: the least recently active entry of the first non-empty eviction class. */
  private evictOne(): void {
    for (const cls of EVICTION_CLASSES) {
      let victim: Entry | undefined;
      for (const s of cls) {
        const h = this.heads[s];
        if (h !== undefined && (victim === undefined || h.lastSeen < victim.lastSeen)) victim = h;
      }
      if (victim !== undefined) {
        this.destroy(victim, "evicted");
        return;
      }
    }
  }

  /**
   * Destroys every entry whose timeout has passed; returns how many. Runs from the table's
   * clock timer; callable directly.
   */
  expire(): number {
    const now = this.clock.now();
    let n = 0;
    for (let s = 0; s < STATE_COUNT; s++) {
      const to = this.timeoutOf[s]!;
      for (let h = this.heads[s]; h !== undefined && now >= h.lastSeen + to; h = this.heads[s]) {
        this.destroy(h, "timeout");
        n++;
      }
    }
    this.reschedule();
    return n;
  }

  /** Removes every entry (reported as "cleared"). */
  clear(): void {
    for (const e of [...this.map.values()]) this.destroy(e, "cleared");
    this.reschedule();
  }

  /** Stops the expiry timer (the entries stay). */
  close(): void {
    this.timer?.stop();
    this.timerAt = Number.POSITIVE_INFINITY;
  }

  /** Entries as plain data, oldest first (at most `limit`). About 1.5 µs per entry. */
  snapshot(limit = Number.POSITIVE_INFINITY): ConnectionRecord[] {
    const now = this.clock.now();
    const out: ConnectionRecord[] = [];
    for (const e of this.map.values()) {
      if (out.length >= limit) break;
      out.push(this.record(e, now));
    }
    return out;
  }

  /**
   * The entry of the flow from `src`:`srcPort` to `dst`:`dstPort` (either direction), if tracked.
   * For ICMP echo, `srcPort` is the identifier and `dstPort` is ignored.
   */
  lookup(
    protocol: "tcp" | "udp" | "icmp" | "icmpv6",
    src: Address,
    srcPort: number,
    dst: Address,
    dstPort: number,
  ): ConnectionRecord | undefined {
    const icmp = protocol === "icmp" || protocol === "icmpv6";
    const key = flowKey(PROTOCOL_NUMBERS[protocol], src.bytes, srcPort, dst.bytes, icmp ? srcPort : dstPort);
    const e = this.map.get(key);
    return e === undefined ? undefined : this.record(e, this.clock.now());
  }

  private record(e: Entry, now: number): ConnectionRecord {
    const t = decodeKey(e.key);
    const origFirst = (e.flags & FLAG_ORIG_FIRST) !== 0;
    const o = origFirst ? t.first : t.second;
    const r = origFirst ? t.second : t.first;
    const icmp = t.protocol === ICMPV4_PROTOCOL_NUMBER || t.protocol === ICMPV6_PROTOCOL_NUMBER;
    const wall = this.clock.wallNow() - now;
    return {
      id: e.id,
      protocol: PROTOCOL_NAMES[t.protocol] ?? "udp",
      ipVersion: t.ipVersion,
      origSrc: Address.fromBytes(o.address).toString(),
      origSrcPort: o.port,
      origDst: Address.fromBytes(r.address).toString(),
      origDstPort: icmp ? 0 : r.port,
      state: STATE_NAMES[e.state]!,
      assured: (e.flags & FLAG_ASSURED) !== 0,
      forwarded: (e.flags & FLAG_FORWARDED) !== 0,
      origPackets: e.origPackets,
      origBytes: e.origBytes,
      replyPackets: e.replyPackets,
      replyBytes: e.replyBytes,
      firstSeen: Math.round(wall + e.firstSeen),
      lastSeen: Math.round(wall + e.lastSeen),
      expiresInMs: Math.max(0, e.lastSeen + this.timeoutOf[e.state]! - now),
    };
  }

  private emit(ev: ConntrackEvent): void {
    for (const fn of this.listeners) {
      try {
        fn(ev);
      } catch {
        this.stats.listenerErrors++;
      }
    }
  }

  private protocolCount(e: Entry, d: number): void {
    const proto = e.key.charCodeAt(0);
    if (proto === TCP_PROTOCOL_NUMBER) this.perProtocol.tcp += d;
    else if (proto === ICMPV4_PROTOCOL_NUMBER || proto === ICMPV6_PROTOCOL_NUMBER) this.perProtocol.icmp += d;
    else this.perProtocol.udp += d;
  }

  // --- per-state lists, oldest activity at the head ---

  private append(e: Entry): void {
    const s = e.state;
    const t = this.tails[s];
    e.prev = t;
    e.next = undefined;
    if (t === undefined) this.heads[s] = e;
    else t.next = e;
    this.tails[s] = e;
  }

  private unlink(e: Entry): void {
    const s = e.state;
    if (e.prev === undefined) this.heads[s] = e.next;
    else e.prev.next = e.next;
    if (e.next === undefined) this.tails[s] = e.prev;
    else e.next.prev = e.prev;
    e.prev = undefined;
    e.next = undefined;
  }

  // --- the expiry timer ---

  /** Makes sure the timer fires by `at`. */
  private armFor(at: number): void {
    if (at >= this.timerAt) return;
    this.timerAt = at;
    const delay = Math.max(0, at - this.clock.now());
    if (this.timer === undefined) this.timer = this.clock.afterFunc(delay, () => this.onTimer());
    else this.timer.reset(delay);
  }

  private onTimer(): void {
    this.timerAt = Number.POSITIVE_INFINITY;
    this.expire();
  }

  /** Arms the timer for the earliest deadline among the list heads. */
  private reschedule(): void {
    let at = Number.POSITIVE_INFINITY;
    for (let s = 0; s < STATE_COUNT; s++) {
      const h = this.heads[s];
      if (h !== undefined) at = Math.min(at, h.lastSeen + this.timeoutOf[s]!);
    }
    if (at === Number.POSITIVE_INFINITY) {
      this.timer?.stop();
      this.timerAt = at;
      return;
    }
    this.timerAt = Number.POSITIVE_INFINITY;
    this.armFor(at);
  }
}

const PROTOCOL_NAMES: Record<number, ConnectionRecord["protocol"]> = {
  6: "tcp",
  17: "udp",
  1: "icmp",
  58: "icmpv6",
};

const PROTOCOL_NUMBERS: Record<ConnectionRecord["protocol"], number> = {
  tcp: 6,
  udp: 17,
  icmp: 1,
  icmpv6: 58,
};
