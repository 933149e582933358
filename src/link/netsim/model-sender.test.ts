/**
 * The issue 8 building blocks composed into a small model TCP sender over
 * NetSim, as the real endpoint is meant to wire them: CUBIC (or NewReno)
 * for the window, SentSegments + RACK-TLP for loss detection, PRR for the
 * sending rate in recovery, D-SACK detection from the scoreboard module.
 * The receiver ACKs every segment with SACK blocks (RFC 2018) and D-SACK
 * (RFC 2883). Packets are not TCP/IP: a tiny header on a local experimental
 * EtherType, padded to TCP/IP's size, so the path sees realistic bytes.
 *
 * It checks that the pieces fit together (transfers complete over lossy,
 * reordering paths; the same seed gives the same run) and gives first
 * figures against the Mathis bound for the later throughput matrix.
 */
import { describe, expect, test } from "bun:test";
import { PacketBuffer } from "../../buffer/packet-buffer.ts";
import { ManualClock, type Timer } from "../../tcpip/clock.ts";
import { SeededRandom } from "../../tcpip/random.ts";
import type { CongestionControl } from "../../transport/tcp/congestion.ts";
import { Cubic } from "../../transport/tcp/cubic.ts";
import { Prr } from "../../transport/tcp/prr.ts";
import { Rack, type SentSegment, SentSegments, Tlp } from "../../transport/tcp/rack.ts";
import { NewReno } from "../../transport/tcp/reno.ts";
import { isDsack, NextSegKind, SackScoreboard } from "../../transport/tcp/sack-scoreboard.ts";
import type { NetworkDispatcher } from "../link-endpoint.ts";
import { mathisBitsPerSecond } from "./mathis.ts";
import { NetSim, type PathOptions } from "./netsim.ts";

/** IEEE 802 "Local Experimental EtherType 1". */
const PROTO = 0x88b5;
const MSS = 1448;
/** IPv4 + TCP with timestamps. */
const HEADERS = 52;
const DATA = 1;
const ACK = 2;

function dataPacket(seq: number, len: number, tsVal: number): PacketBuffer {
  const p = PacketBuffer.alloc(0, HEADERS + len);
  const dv = new DataView(p.data.buffer);
  p.data[0] = DATA;
  dv.setUint32(1, seq);
  dv.setUint16(5, len);
  dv.setFloat64(7, tsVal);
  p.networkProtocol = PROTO;
  return p;
}

function ackPacket(ack: number, tsEcr: number, blocks: number[]): PacketBuffer {
  const p = PacketBuffer.alloc(0, HEADERS + 8 * (blocks.length / 2));
  const dv = new DataView(p.data.buffer);
  p.data[0] = ACK;
  dv.setUint32(1, ack);
  dv.setFloat64(5, tsEcr);
  p.data[13] = blocks.length / 2;
  for (let i = 0; i < blocks.length; i++) dv.setUint32(14 + 4 * i, blocks[i]!);
  p.networkProtocol = PROTO;
  return p;
}

/** ACKs every segment: cumulative ACK, D-SACK for duplicates, then up to 3 SACK blocks, newest first. */
class Receiver implements NetworkDispatcher {
  nxt: number;
  /** Out-of-order ranges above `nxt`, [start, end) pairs, in order (offsets from ISS, no wrap here). */
  private ooo: [number, number][] = [];
  delivered = 0;
  duplicates = 0;
  constructor(
    private readonly sim: NetSim,
    readonly iss: number,
  ) {
    this.nxt = iss;
    sim.b.attach(this);
  }
  deliverNetworkPacket(_protocol: number, p: PacketBuffer): void {
    const dv = new DataView(p.data.buffer, p.data.byteOffset);
    if (p.data[0] !== DATA) return;
    const seq = dv.getUint32(1);
    const end = seq + dv.getUint16(5);
    const ts = dv.getFloat64(7);
    const blocks: number[] = [];
    const seen = end <= this.nxt || this.ooo.some(([s, e]) => s <= seq && end <= e);
    if (seen) {
      // RFC 2883 §4: report the duplicate in the first block.
      this.duplicates++;
      blocks.push(seq, end);
    } else if (seq <= this.nxt) {
      this.nxt = end;
    } else {
      this.ooo.push([seq, end]);
    }
    this.ooo.sort((x, y) => x[0] - y[0]);
    const merged: [number, number][] = [];
    for (const r of this.ooo) {
      const last = merged[merged.length - 1];
      if (last && r[0] <= last[1]) last[1] = Math.max(last[1], r[1]);
      else merged.push([r[0], r[1]]);
    }
    while (merged.length > 0 && merged[0]![0] <= this.nxt) {
      this.nxt = Math.max(this.nxt, merged[0]![1]);
      merged.shift();
    }
    this.ooo = merged;
    this.delivered = this.nxt - this.iss;
    // RFC 2018 §4: the first block holds the segment that triggered the ACK, then the most recent others.
    const mine = this.ooo.findIndex(([s, e]) => s <= seq && end <= e);
    if (mine >= 0) blocks.push(this.ooo[mine]![0], this.ooo[mine]![1]);
    for (let i = this.ooo.length - 1; i >= 0 && blocks.length < 8; i--) {
      if (i !== mine) blocks.push(this.ooo[i]![0], this.ooo[i]![1]);
    }
    this.sim.b.writePackets([ackPacket(this.nxt, ts, blocks)]);
  }
}

interface SenderStats {
  retransmits: number;
  probes: number;
  rtos: number;
  recoveries: number;
  dsacks: number;
}

/** The model sender: one bulk transfer of `total` bytes. */
class Sender implements NetworkDispatcher {
  una: number;
  nxt: number;
  readonly end: number;
  readonly log = new SentSegments();
  readonly rack = new Rack();
  readonly tlp = new Tlp();
  readonly prr = new Prr(MSS);
  inRecovery = false;
  rtoRecovery = false;
  private recoveryPoint = 0;
  private srtt = 0;
  private rttvar = 0;
  private backoff = 0;
  private readonly rto: Timer;
  private readonly pto: Timer;
  private readonly reo: Timer;
  private readonly newly: SentSegment[] = [];
  readonly stats: SenderStats = { retransmits: 0, probes: 0, rtos: 0, recoveries: 0, dsacks: 0 };

  constructor(
    private readonly sim: NetSim,
    private readonly clock: ManualClock,
    readonly cc: CongestionControl,
    iss: number,
    total: number,
  ) {
    this.una = iss;
    this.nxt = iss;
    this.end = iss + total;
    sim.a.attach(this);
    this.rto = clock.afterFunc(1e12, () => this.onRto());
    this.rto.stop();
    this.pto = clock.afterFunc(1e12, () => this.onPto());
    this.pto.stop();
    this.reo = clock.afterFunc(1e12, () => this.onReorderTimer());
    this.reo.stop();
  }

  get done(): boolean {
    return this.una === this.end;
  }

  private get rtoMs(): number {
    const base = this.srtt === 0 ? 1000 : Math.max(200, this.srtt + 4 * this.rttvar);
    return Math.min(60_000, base * 2 ** this.backoff);
  }

  /** Octets in flight: neither SACKed nor marked lost (RFC 6675 pipe with RACK's loss marks). */
  private pipe(): number {
    let n = 0;
    for (const s of this.log) if (!s.sacked && !s.lost) n += s.endSeq - s.seq;
    return n;
  }

  start(): void {
    this.send();
  }

  deliverNetworkPacket(_protocol: number, p: PacketBuffer): void {
    const now = this.clock.now();
    const dv = new DataView(p.data.buffer, p.data.byteOffset);
    const ack = dv.getUint32(1);
    const tsEcr = dv.getFloat64(5);
    const n = p.data[13]!;
    const blocks: number[] = [];
    for (let i = 0; i < 2 * n; i++) blocks.push(dv.getUint32(14 + 4 * i));
    const dsack = isDsack(ack, blocks);
    if (dsack) this.stats.dsacks++;
    this.newly.length = 0;
    this.log.onAck(ack, blocks, dsack, this.newly);
    const acked = ack > this.una ? ack - this.una : 0;
    if (acked > 0) this.una = ack;
    // RTT sample from the echoed send time (RFC 7323 §4: timestamps make every ACK a sample).
    const r = now - tsEcr;
    if (this.srtt === 0) {
      this.srtt = r;
      this.rttvar = r / 2;
    } else {
      this.rttvar = 0.75 * this.rttvar + 0.25 * Math.abs(this.srtt - r);
      this.srtt = 0.875 * this.srtt + 0.125 * r;
    }
    this.rack.onRttSample(r, now);
    this.tlp.onRttSample();
    if (this.cc instanceof Cubic) {
      this.cc.onRttSample(r);
      this.cc.onAckSeq(ack, this.nxt);
    }
    if (acked > 0) this.backoff = 0;
    const exiting = (this.inRecovery || this.rtoRecovery) && this.una >= this.recoveryPoint;
    let delivered = 0;
    for (const s of this.newly) delivered += s.endSeq - s.seq;
    this.rack.onAck({
      now,
      newlyAcked: this.newly,
      echoedXmitTs: tsEcr,
      dsack,
      sndUna: this.una,
      sndNxt: this.nxt,
      inRecovery: this.inRecovery || this.rtoRecovery,
      exitingRecovery: exiting,
      segsSacked: this.log.sackedCount,
      srtt: this.srtt,
    });
    this.detectLoss(now);
    if (this.inRecovery) {
      if (exiting) {
        this.inRecovery = false;
        this.cc.onAckInRecovery(ack, acked, this.pipe());
      } else {
        this.prr.onAck(delivered, this.pipe());
      }
    } else {
      if (exiting) this.rtoRecovery = false;
      if (acked > 0) this.cc.onAck(acked, now);
    }
    this.tlp.processAck(ack, dsack ? blocks[1] : undefined, false);
    this.send();
    this.armTimers(acked > 0);
  }

  private detectLoss(now: number): void {
    const timeout = this.rack.detectLoss(this.log, now);
    if (timeout > 0) this.reo.reset(timeout);
    else this.reo.stop();
    if (this.rack.newlyLost > 0 && !this.inRecovery && !this.rtoRecovery) {
      // Loss detected: enter fast recovery (RFC 8985 §6.2 hands losses to RFC 6675-style recovery).
      const flight = this.nxt - this.una;
      this.inRecovery = true;
      this.recoveryPoint = this.nxt;
      this.cc.enterRecovery(flight, this.nxt);
      this.prr.start(this.cc.ssthresh, flight);
      this.tlp.reset();
      this.stats.recoveries++;
    }
  }

  private send(): void {
    const now = this.clock.now();
    let budget = this.inRecovery ? this.prr.sndcnt : Math.max(0, this.cc.cwnd - this.pipe());
    for (let lost = this.log.firstLost(); lost && budget > 0; lost = this.log.firstLost()) {
      const seq = lost.seq;
      const len = lost.endSeq - seq;
      this.transmit(seq, len, now);
      this.stats.retransmits++;
      budget -= len;
    }
    while (budget >= Math.min(MSS, this.end - this.nxt) && this.nxt < this.end) {
      const len = Math.min(MSS, this.end - this.nxt);
      this.transmit(this.nxt, len, now);
      this.nxt += len;
      budget -= len;
    }
  }

  private transmit(seq: number, len: number, now: number): void {
    this.log.onTransmit(seq, len, now);
    if (this.inRecovery) this.prr.onSent(len);
    this.sim.a.writePackets([dataPacket(seq, len, now)]);
  }

  private armTimers(ackedNew: boolean): void {
    const flight = this.nxt - this.una;
    if (flight === 0) {
      this.rto.stop();
      this.pto.stop();
      return;
    }
    if (ackedNew || !this.rto.pending) this.rto.reset(this.rtoMs);
    // RFC 8985 §7.2: (re)start the PTO after new data or a cumulative ACK, outside recovery.
    if (
      this.tlp.canSchedule(true, this.inRecovery || this.rtoRecovery, flight) &&
      this.tlp.endSeq === undefined
    ) {
      const now = this.clock.now();
      this.pto.reset(this.tlp.pto(this.srtt || undefined, flight, MSS, now, now + this.rtoMs));
    } else {
      this.pto.stop();
    }
  }

  private onPto(): void {
    const now = this.clock.now();
    if (this.tlp.canSendProbe()) {
      if (this.tlp.chooseProbe(this.nxt < this.end, true) === "new") {
        const len = Math.min(MSS, this.end - this.nxt);
        this.transmit(this.nxt, len, now);
        this.nxt += len;
        this.tlp.onProbeSent(this.nxt, false);
      } else {
        const last = this.log.at(this.log.length - 1);
        if (last) {
          const seq = last.seq;
          this.transmit(seq, last.endSeq - seq, now);
          this.stats.retransmits++;
          this.tlp.onProbeSent(this.nxt, true);
        }
      }
      this.stats.probes++;
    }
    // RFC 8985 §7.3: afterwards re-arm the RTO, not the PTO.
    this.rto.reset(this.rtoMs);
  }

  private onReorderTimer(): void {
    this.detectLoss(this.clock.now());
    this.send();
  }

  private onRto(): void {
    if (this.una === this.nxt) return;
    const now = this.clock.now();
    this.stats.rtos++;
    // RFC 8985 §6.3 marks losses; RFC 5681 §3.1 / RFC 9438 §4.8 reduce the window.
    this.rack.markLossesOnRto(this.log, now);
    this.cc.onRetransmitTimeout(this.nxt - this.una);
    this.inRecovery = false;
    this.rtoRecovery = true;
    this.recoveryPoint = this.nxt;
    this.tlp.reset();
    this.backoff++;
    this.send();
    this.rto.reset(this.rtoMs);
  }
}

/**
 * The other loss detector: RFC 6675 conservative SACK recovery (DupThresh, NextSeg, SetPipe) with PRR
 * and no RACK-TLP. After an RTO it resends everything not SACKed (go-back-N over the holes, by NextSeg).
 */
class SackSender implements NetworkDispatcher {
  una: number;
  nxt: number;
  readonly end: number;
  readonly sb: SackScoreboard;
  readonly prr = new Prr(MSS);
  inRecovery = false;
  private srtt = 0;
  private rttvar = 0;
  private backoff = 0;
  private readonly rto: Timer;
  readonly stats: SenderStats = { retransmits: 0, probes: 0, rtos: 0, recoveries: 0, dsacks: 0 };

  constructor(
    private readonly sim: NetSim,
    private readonly clock: ManualClock,
    readonly cc: CongestionControl,
    iss: number,
    total: number,
  ) {
    this.una = iss;
    this.nxt = iss;
    this.end = iss + total;
    this.sb = new SackScoreboard(iss, MSS);
    sim.a.attach(this);
    this.rto = clock.afterFunc(1e12, () => this.onRto());
    this.rto.stop();
  }

  get done(): boolean {
    return this.una === this.end;
  }

  private get rtoMs(): number {
    const base = this.srtt === 0 ? 1000 : Math.max(200, this.srtt + 4 * this.rttvar);
    return Math.min(60_000, base * 2 ** this.backoff);
  }

  start(): void {
    this.send();
  }

  deliverNetworkPacket(_protocol: number, p: PacketBuffer): void {
    const now = this.clock.now();
    const dv = new DataView(p.data.buffer, p.data.byteOffset);
    const ack = dv.getUint32(1);
    const tsEcr = dv.getFloat64(5);
    const n = p.data[13]!;
    const blocks: number[] = [];
    for (let i = 0; i < 2 * n; i++) blocks.push(dv.getUint32(14 + 4 * i));
    // RFC 6675 §4 Update(): one call per ACK.
    const u = this.sb.update(ack, blocks, this.nxt);
    if (u.dsack) this.stats.dsacks++;
    const acked = ack > this.una ? ack - this.una : 0;
    if (acked > 0) {
      this.una = ack;
      this.backoff = 0;
    }
    const r = now - tsEcr;
    if (this.srtt === 0) {
      this.srtt = r;
      this.rttvar = r / 2;
    } else {
      this.rttvar = 0.75 * this.rttvar + 0.25 * Math.abs(this.srtt - r);
      this.srtt = 0.875 * this.srtt + 0.125 * r;
    }
    if (this.cc instanceof Cubic) {
      this.cc.onRttSample(r);
      this.cc.onAckSeq(ack, this.nxt);
    }
    if (this.inRecovery) {
      if (u.exitedRecovery) {
        this.inRecovery = false;
        this.cc.onAckInRecovery(ack, acked, this.sb.setPipe());
      } else {
        // RFC 6937 §3: on every ACK in recovery, DeliveredData and the RFC 6675 pipe give sndcnt.
        this.prr.onAck(u.delivered, this.sb.setPipe());
      }
    } else if (u.enterRecovery) {
      // RFC 6675 §5 step 4: RecoveryPoint, the reduction, the first retransmission, SetPipe.
      const flight = this.nxt - this.una;
      this.cc.enterRecovery(flight, this.nxt);
      this.prr.start(this.cc.ssthresh, flight);
      this.inRecovery = true;
      this.stats.recoveries++;
      const first = this.sb.enterRecovery();
      this.transmit(first.seq, first.len, now);
      this.stats.retransmits++;
      this.prr.onSent(first.len);
      this.sb.setPipe();
    } else if (acked > 0) {
      this.cc.onAck(acked, now);
    }
    this.send();
    if (this.una === this.nxt) this.rto.stop();
    else if (acked > 0 || !this.rto.pending) this.rto.reset(this.rtoMs);
  }

  private send(): void {
    const now = this.clock.now();
    if (this.inRecovery) {
      // RFC 6675 §5 (C): while the window (here PRR's sndcnt) allows, NextSeg() and send.
      for (;;) {
        const seg = this.sb.nextSeg(this.nxt < this.end);
        if (seg.kind === NextSegKind.None) return;
        const kind = seg.kind;
        const seq = seg.seq;
        const len = kind === NextSegKind.NewData ? Math.min(MSS, this.end - this.nxt) : seg.len;
        if (len > this.prr.sndcnt) return;
        this.transmit(seq, len, now);
        this.sb.markSent(kind, seq, len);
        this.prr.onSent(len);
        if (kind === NextSegKind.NewData) this.nxt += len;
        else this.stats.retransmits++;
      }
    }
    let budget = Math.max(0, this.cc.cwnd - this.sb.setPipe());
    // After an RTO (RFC 6675 §5.1) NextSeg() walks the holes the timeout left, skipping SACKed data.
    while (this.sb.rtoRecovery && budget > 0) {
      const seg = this.sb.nextSeg(false);
      if (seg.kind === NextSegKind.None) break;
      const kind = seg.kind;
      const seq = seg.seq;
      const len = seg.len;
      this.transmit(seq, len, now);
      this.sb.markSent(kind, seq, len);
      this.stats.retransmits++;
      budget -= len;
    }
    while (budget >= Math.min(MSS, this.end - this.nxt) && this.nxt < this.end) {
      const len = Math.min(MSS, this.end - this.nxt);
      this.transmit(this.nxt, len, now);
      this.sb.markSent(NextSegKind.NewData, this.nxt, len);
      this.nxt += len;
      budget -= len;
    }
  }

  private transmit(seq: number, len: number, now: number): void {
    this.sim.a.writePackets([dataPacket(seq, len, now)]);
  }

  private onRto(): void {
    if (this.una === this.nxt) return;
    this.stats.rtos++;
    // RFC 6675 §5.1, RFC 5681 §3.1: end recovery, collapse the window, resend what is not SACKed.
    this.sb.onRetransmitTimeout();
    this.cc.onRetransmitTimeout(this.nxt - this.una);
    this.inRecovery = false;
    this.backoff++;
    this.send();
    this.rto.reset(this.rtoMs);
  }
}

interface Result {
  ok: boolean;
  ms: number;
  goodputBps: number;
  stats: SenderStats;
  lost: number;
}

function run(
  cc: "cubic" | "cubic-no-hystart" | "reno",
  path: PathOptions,
  total: number,
  seed: number,
  detector: "rack" | "sack" = "rack",
  limitMs = 3_600_000,
): Result {
  const clock = new ManualClock();
  const sim = new NetSim({
    clock,
    random: new SeededRandom(seed),
    mtu: 1500,
    aToB: path,
    bToA: { delayMs: path.delayMs ?? 0 },
  });
  const iss = 1000;
  const ctl = cc === "reno" ? new NewReno(MSS, 10) : new Cubic(MSS, 10, { hystart: cc === "cubic" });
  const snd =
    detector === "rack"
      ? new Sender(sim, clock, ctl, iss, total)
      : new SackSender(sim, clock, ctl, iss, total);
  const rcv = new Receiver(sim, iss);
  snd.start();
  while (!snd.done && clock.now() < limitMs && clock.advanceToNext()) {}
  const ms = clock.now();
  sim.close();
  return {
    ok: snd.done && rcv.delivered === total,
    ms,
    goodputBps: (total * 8 * 1000) / ms,
    stats: snd.stats,
    lost: sim.statsAToB.droppedLoss + sim.statsAToB.droppedQueue + sim.statsAToB.droppedFilter,
  };
}

describe("the issue 8 pieces composed into a model sender over NetSim", () => {
  test("a clean path: CUBIC fills a 10 Mbit/s, 40 ms pipe within a few percent", () => {
    const total = 4_000_000;
    const r = run("cubic", { bandwidthBps: 10_000_000, delayMs: 20, queueBytes: 100_000 }, total, 1);
    expect(r.ok).toBe(true);
    // Wire bytes include 52 bytes of headers per 1448: goodput ≤ 10 Mbit/s · 1448/1500.
    expect(r.goodputBps).toBeGreaterThan(0.85 * 10_000_000 * (MSS / (MSS + HEADERS)));
    expect(r.goodputBps).toBeLessThan(10_000_000);
  });

  test("loss, reordering and duplication: both controllers finish; RACK keeps spurious retransmissions rare", () => {
    const path: PathOptions = {
      bandwidthBps: 50_000_000,
      delayMs: 25,
      queueBytes: 300_000,
      lossRate: 0.005,
      reorderRate: 0.02,
      reorderDelayMs: 2,
      duplicateRate: 0.005,
    };
    for (const cc of ["cubic", "reno"] as const) {
      const r = run(cc, path, 5_000_000, 3);
      expect(r.ok).toBe(true);
      expect(r.stats.recoveries).toBeGreaterThan(0);
      // Retransmissions stay near the number of packets the path actually dropped.
      expect(r.stats.retransmits).toBeLessThan(3 * r.lost + 10);
    }
  });

  test("HyStart++ leaves slow start before it overflows the bottleneck queue", () => {
    const path: PathOptions = { bandwidthBps: 10_000_000, delayMs: 20, queueBytes: 100_000 };
    const hystart = run("cubic", path, 4_000_000, 1);
    const plain = run("cubic-no-hystart", path, 4_000_000, 1);
    expect(hystart.ok && plain.ok).toBe(true);
    // Standard slow start doubles into the 100 kB queue and loses a window's worth; CSS (RFC 9406 §4.2)
    // notices the queue building (RTT up by RttThresh) and grows at a quarter of the rate.
    expect(hystart.lost * 4).toBeLessThan(plain.lost);
  });

  test("reordering without loss: once RACK has seen reordering, it stops retransmitting", () => {
    const path: PathOptions = {
      bandwidthBps: 50_000_000,
      delayMs: 25,
      queueBytes: 300_000,
      reorderRate: 0.05,
      reorderDelayMs: 5,
    };
    const r = run("cubic", path, 5_000_000, 3);
    expect(r.ok).toBe(true);
    expect(r.lost).toBe(0);
    // ~3450 segments, 5% held back 5 ms: only the first reorderings (before RACK.reordering_seen, when
    // three SACKed segments make reo_wnd 0, RFC 8985 §6.2 Step 4) cause retransmissions, each D-SACKed.
    expect(r.stats.retransmits).toBeLessThanOrEqual(3);
    expect(r.stats.dsacks).toBe(r.stats.retransmits);
    expect(r.stats.rtos).toBe(0);
  });

  test("under random loss, Reno stays near the Mathis bound and CUBIC does not do worse", () => {
    const rttMs = 100;
    const p = 0.001;
    const path: PathOptions = { bandwidthBps: 1_000_000_000, delayMs: rttMs / 2, lossRate: p };
    const reno = run("reno", path, 20_000_000, 5);
    const cubic = run("cubic", path, 20_000_000, 5);
    expect(reno.ok).toBe(true);
    expect(cubic.ok).toBe(true);
    const bound = mathisBitsPerSecond(MSS, rttMs, p);
    expect(reno.goodputBps).toBeGreaterThan(0.4 * bound);
    expect(reno.goodputBps).toBeLessThan(2.5 * bound);
    expect(cubic.goodputBps).toBeGreaterThanOrEqual(reno.goodputBps);
  });

  test("a lost tail: TLP's probe turns it into fast recovery; without RACK-TLP it waits for the RTO", () => {
    const total = 30 * MSS;
    const tail = new Set([27, 28, 29].map((k) => 1000 + k * MSS));
    const dropTail = () => {
      const seen = new Set<number>();
      // First transmissions of the last three data segments are lost.
      return (_i: number, b: Uint8Array) => {
        if (b[0] !== DATA) return false;
        const seq = new DataView(b.buffer, b.byteOffset).getUint32(1);
        if (!tail.has(seq) || seen.has(seq)) return false;
        seen.add(seq);
        return true;
      };
    };
    const path = (): PathOptions => ({
      bandwidthBps: 10_000_000,
      delayMs: 20,
      queueBytes: 100_000,
      drop: dropTail(),
    });
    const rack = run("cubic", path(), total, 1, "rack");
    const sack = run("cubic", path(), total, 1, "sack");
    expect(rack.ok && sack.ok).toBe(true);
    expect(rack.stats.probes).toBe(1);
    expect(rack.stats.rtos).toBe(0);
    expect(rack.stats.retransmits).toBe(3);
    expect(sack.stats.rtos).toBeGreaterThan(0);
    expect(rack.ms).toBeLessThan(sack.ms);
  });

  test("RFC 6675 SACK recovery with PRR completes too; RACK-TLP starts fewer recoveries under reordering and needs fewer RTOs under heavy loss", () => {
    const reordering: PathOptions = {
      bandwidthBps: 50_000_000,
      delayMs: 25,
      queueBytes: 300_000,
      lossRate: 0.005,
      reorderRate: 0.02,
      reorderDelayMs: 2,
      duplicateRate: 0.005,
    };
    const heavy: PathOptions = { bandwidthBps: 20_000_000, delayMs: 10, queueBytes: 60_000, lossRate: 0.15 };
    const r1 = run("cubic", reordering, 2_000_000, 3, "rack");
    const s1 = run("cubic", reordering, 2_000_000, 3, "sack");
    const r2 = run("cubic", heavy, 2_000_000, 3, "rack");
    const s2 = run("cubic", heavy, 2_000_000, 3, "sack");
    for (const r of [r1, s1, r2, s2]) expect(r.ok).toBe(true);
    // DupThresh takes three packets overtaking a late one for a loss; RACK waits min_RTT/4 first.
    expect(r1.stats.recoveries).toBeLessThan(s1.stats.recoveries);
    // Lost retransmissions: RACK sees them by time, DupThresh only after an RTO.
    expect(r2.stats.rtos).toBeLessThan(s2.stats.rtos);
  });

  test("the same seed gives the same run", () => {
    const path: PathOptions = { bandwidthBps: 20_000_000, delayMs: 10, queueBytes: 60_000, lossRate: 0.01 };
    expect(run("cubic", path, 1_000_000, 9)).toEqual(run("cubic", path, 1_000_000, 9));
    expect(run("reno", path, 1_000_000, 9, "sack")).toEqual(run("reno", path, 1_000_000, 9, "sack"));
  });
});
