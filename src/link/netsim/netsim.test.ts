import { describe, expect, test } from "bun:test";
import { PacketBuffer } from "../../buffer/packet-buffer.ts";
import { checksum, finishChecksum } from "../../header/checksum.ts";
import { ManualClock } from "../../tcpip/clock.ts";
import { ErrInvalidOptionValue } from "../../tcpip/errors.ts";
import { IPV4_PROTOCOL_NUMBER, IPV6_PROTOCOL_NUMBER } from "../../tcpip/protocols.ts";
import { SeededRandom } from "../../tcpip/random.ts";
import type { NetworkDispatcher } from "../link-endpoint.ts";
import { ipv4Packet, packetSeq, runLinkConformance } from "../testing/conformance.ts";
import { NetSim, type NetSimOptions, type PathOptions } from "./netsim.ts";

/** An IPv4 packet of exactly `size` bytes carrying `seq`. */
function pkt(seq: number, size = 1000): PacketBuffer {
  const p = PacketBuffer.withPayload(0, ipv4Packet(seq, size - 28));
  p.networkProtocol = IPV4_PROTOCOL_NUMBER;
  return p;
}

/** Records what arrives, with the clock's time. */
class Recorder implements NetworkDispatcher {
  readonly got: { seq: number; at: number; size: number; protocol: number }[] = [];
  constructor(private readonly clock: ManualClock) {}
  deliverNetworkPacket(protocol: number, p: PacketBuffer): void {
    this.got.push({ seq: packetSeq(p.bytes()), at: this.clock.now(), size: p.size, protocol });
  }
  get seqs(): number[] {
    return this.got.map((g) => g.seq);
  }
}

function setup(path: PathOptions, seed = 1, extra: Partial<NetSimOptions> = {}) {
  const clock = new ManualClock();
  const sim = new NetSim({ clock, random: new SeededRandom(seed), aToB: path, ...extra });
  const ra = new Recorder(clock);
  const rb = new Recorder(clock);
  sim.a.attach(ra);
  sim.b.attach(rb);
  return { clock, sim, ra, rb };
}

runLinkConformance("netsim", () => {
  const clock = new ManualClock();
  const sim = new NetSim({ clock, random: new SeededRandom(7), aToB: { delayMs: 5, bandwidthBps: 1e9 } });
  const wire: { protocol: number; bytes: Uint8Array }[] = [];
  sim.b.attach({ deliverNetworkPacket: (protocol, p) => wire.push({ protocol, bytes: p.bytes().slice() }) });
  return {
    link: sim.a,
    inject: (protocol, bytes) => {
      const p = PacketBuffer.withPayload(0, bytes);
      p.networkProtocol = protocol;
      sim.b.writePackets([p]);
    },
    takeWritten: () => wire.splice(0),
    settle: async () => clock.advance(10),
    close: () => sim.close(),
  };
});

describe("NetSim timing", () => {
  test("arrival = queueing + size/bandwidth + one-way delay", () => {
    // 8 Mbit/s: one byte per microsecond, so 1000 bytes take 1 ms on the wire.
    const { clock, sim, rb } = setup({ bandwidthBps: 8_000_000, delayMs: 50 });
    expect(sim.a.writePackets([pkt(1), pkt(2), pkt(3)])).toBe(3);
    expect(sim.queueBytes("aToB")).toBe(3000);
    clock.advance(50.999);
    expect(rb.got).toEqual([]);
    clock.advance(10);
    expect(rb.got.map((g) => [g.seq, g.at])).toEqual([
      [1, 51],
      [2, 52],
      [3, 53],
    ]);
    // A packet written when the link is idle again starts at once.
    sim.a.writePackets([pkt(4, 500)]);
    clock.advance(100);
    expect(rb.got[3]).toEqual({ seq: 4, at: 60.999 + 0.5 + 50, size: 500, protocol: IPV4_PROTOCOL_NUMBER });
    expect(sim.statsAToB.delivered).toBe(4);
    expect(sim.statsAToB.bytesDelivered).toBe(3500);
  });

  test("nothing is delivered inside writePackets; delay 0 still waits for the clock", () => {
    const { clock, sim, rb } = setup({});
    sim.a.writePackets([pkt(1)]);
    expect(rb.got).toEqual([]);
    expect(sim.inFlight).toBe(1);
    clock.runDue();
    expect(rb.seqs).toEqual([1]);
    expect(sim.inFlight).toBe(0);
  });

  test("directions are independent: bToA has its own shape", () => {
    const { clock, sim, ra, rb } = setup({ delayMs: 10 }, 1, { bToA: { delayMs: 30 } });
    sim.a.writePackets([pkt(1)]);
    sim.b.writePackets([pkt(2)]);
    clock.advance(100);
    expect(rb.got[0]!.at).toBe(10);
    expect(ra.got[0]!.at).toBe(30);
    expect(sim.statsAToB.sent).toBe(1);
    expect(sim.statsBToA.sent).toBe(1);
  });

  test("a reply written during delivery travels back with its own delay", () => {
    const clock = new ManualClock();
    const sim = new NetSim({ clock, random: new SeededRandom(1), aToB: { delayMs: 25 } });
    const ra = new Recorder(clock);
    sim.a.attach(ra);
    sim.b.attach({ deliverNetworkPacket: (_p, p) => sim.b.writePackets([pkt(packetSeq(p.bytes()) + 100)]) });
    sim.a.writePackets([pkt(1)]);
    clock.advance(1000);
    expect(ra.got.map((g) => [g.seq, g.at])).toEqual([[101, 50]]);
  });
});

describe("NetSim bottleneck queue", () => {
  test("drop-tail: what does not fit in queueBytes is dropped, and room returns as bytes leave", () => {
    const { clock, sim, rb } = setup({ bandwidthBps: 8_000_000, queueBytes: 2500 });
    // 1000 + 1000 fit; a third would make 3000 > 2500.
    expect(sim.a.writePackets([pkt(1), pkt(2), pkt(3), pkt(4), pkt(5)])).toBe(5);
    expect(sim.statsAToB.droppedQueue).toBe(3);
    expect(sim.queueBytes("aToB")).toBe(2000);
    clock.advance(1); // packet 1 has left the bottleneck
    expect(sim.queueBytes("aToB")).toBe(1000);
    sim.a.writePackets([pkt(6), pkt(7)]);
    expect(sim.statsAToB.droppedQueue).toBe(4);
    clock.advance(10);
    expect(rb.got.map((g) => [g.seq, g.at])).toEqual([
      [1, 1],
      [2, 2],
      [6, 3],
    ]);
    expect(sim.statsAToB.maxQueueBytes).toBe(2000);
  });

  test("a standing queue adds queueing delay (bufferbloat) and drains at the bottleneck rate", () => {
    const { clock, sim, rb } = setup({ bandwidthBps: 8_000_000, queueBytes: 100_000, delayMs: 10 });
    const batch = Array.from({ length: 50 }, (_, i) => pkt(i));
    sim.a.writePackets(batch);
    clock.advance(1000);
    expect(rb.got.length).toBe(50);
    expect(rb.got[49]!.at).toBe(60);
    for (let i = 1; i < 50; i++) expect(rb.got[i]!.at - rb.got[i - 1]!.at).toBeCloseTo(1, 9);
  });
});

describe("NetSim random impairments (seeded, exact)", () => {
  function spaced(path: PathOptions, seed: number, n: number) {
    const env = setup(path, seed);
    for (let i = 0; i < n; i++) {
      env.sim.a.writePackets([pkt(i, 100)]);
      env.clock.advance(1);
    }
    env.clock.advance(10_000);
    return env;
  }

  test("loss rate converges to the configured rate; the count is exact for the seed", () => {
    const { sim, rb } = spaced({ lossRate: 0.1 }, 42, 10_000);
    const st = sim.statsAToB;
    expect(st.sent).toBe(10_000);
    expect(st.droppedLoss).toBe(1052);
    expect(st.delivered).toBe(10_000 - st.droppedLoss);
    // Within 3 standard deviations of n·p (σ = √(n·p·(1-p)) = 30).
    expect(Math.abs(st.droppedLoss - 1000)).toBeLessThan(90);
    // Survivors arrive in order: loss alone never reorders.
    const seqs = rb.seqs;
    for (let i = 1; i < seqs.length; i++) expect(seqs[i]!).toBeGreaterThan(seqs[i - 1]!);
  });

  test("duplication: every copy arrives right after its original", () => {
    const { sim, rb } = spaced({ duplicateRate: 0.2, delayMs: 5 }, 3, 1000);
    const st = sim.statsAToB;
    expect(st.duplicated).toBe(185);
    expect(st.delivered).toBe(1000 + st.duplicated);
    let dups = 0;
    for (let i = 1; i < rb.got.length; i++) {
      if (rb.got[i]!.seq === rb.got[i - 1]!.seq) {
        dups++;
        expect(rb.got[i]!.at).toBe(rb.got[i - 1]!.at);
      }
    }
    expect(dups).toBe(st.duplicated);
  });

  test("reordering: held-back packets arrive reorderDelayMs late and are overtaken", () => {
    const { sim, rb } = spaced({ reorderRate: 0.1, reorderDelayMs: 3.5, delayMs: 20 }, 9, 1000);
    const st = sim.statsAToB;
    expect(st.reordered).toBe(105);
    expect(st.delivered).toBe(1000);
    // Packet i was written at time i: it arrives at i + 20, or i + 23.5 when held back.
    let late = 0;
    for (const g of rb.got) {
      if (g.at === g.seq + 23.5) late++;
      else expect(g.at).toBe(g.seq + 20);
    }
    expect(late).toBe(st.reordered);
    // Each held-back packet is overtaken by the next three.
    let inversions = 0;
    const seqs = rb.seqs;
    for (let i = 1; i < seqs.length; i++) if (seqs[i]! < seqs[i - 1]!) inversions++;
    expect(inversions).toBeGreaterThan(0);
    expect(seqs.slice().sort((x, y) => x - y)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
  });

  test("the same seed gives the same trace and counters; another seed does not", () => {
    const path: PathOptions = {
      bandwidthBps: 10_000_000,
      delayMs: 7,
      queueBytes: 20_000,
      lossRate: 0.05,
      duplicateRate: 0.02,
      reorderRate: 0.05,
      reorderDelayMs: 2,
    };
    const run = (seed: number) => {
      const env = setup(path, seed);
      for (let i = 0; i < 2000; i++) {
        env.sim.a.writePackets([pkt(i, 200 + (i % 7) * 150)]);
        if (i % 3 === 0) env.clock.advance(0.5);
      }
      env.clock.advance(10_000);
      return { trace: env.rb.got, stats: { ...env.sim.statsAToB } };
    };
    const one = run(1234);
    const two = run(1234);
    expect(two).toEqual(one);
    expect(one.stats.droppedQueue).toBeGreaterThan(0);
    expect(run(1235).trace).not.toEqual(one.trace);
  });
});

describe("NetSim drop option", () => {
  test("drops exactly the chosen packets without disturbing the seeded draws", () => {
    const run = (drop?: PathOptions["drop"]) => {
      const path: PathOptions = { lossRate: 0.2 };
      if (drop) path.drop = drop;
      const { clock, sim, rb } = setup(path, 5);
      for (let i = 0; i < 200; i++) sim.a.writePackets([pkt(i, 100)]);
      clock.advance(1);
      return { seqs: rb.seqs, stats: sim.statsAToB };
    };
    const base = run();
    const cut = run((index, bytes) => index === 3 || packetSeq(bytes) === 150);
    expect(cut.stats.droppedFilter).toBe(2);
    // The filter runs after the packet's loss draw: every other packet meets the same random loss.
    expect(cut.seqs).toEqual(base.seqs.filter((s) => s !== 3 && s !== 150));
    const chosenLostAnyway = [3, 150].filter((s) => !base.seqs.includes(s)).length;
    expect(cut.stats.droppedLoss).toBe(base.stats.droppedLoss - chosenLostAnyway);
  });
});

describe("NetSim endpoints", () => {
  test("oversize writes and writes after close are refused and counted", () => {
    const { clock, sim, rb } = setup({}, 1, { mtu: 1280 });
    expect(sim.a.mtu).toBe(1280);
    expect(sim.a.writePackets([pkt(1, 1281), pkt(2, 1280)])).toBe(1);
    expect(sim.statsAToB.droppedOversize).toBe(1);
    sim.a.close();
    expect(sim.a.closed).toBe(true);
    expect(sim.a.writePackets([pkt(3)])).toBe(0);
    expect(sim.statsAToB.droppedClosed).toBe(1);
    clock.advance(1);
    expect(rb.seqs).toEqual([2]);
  });

  test("packets arriving at a detached endpoint are dropped and counted", () => {
    const { clock, sim } = setup({ delayMs: 1 });
    sim.a.writePackets([pkt(1)]);
    sim.b.attach(undefined);
    clock.advance(5);
    expect(sim.statsAToB.droppedDetached).toBe(1);
    expect(sim.statsAToB.delivered).toBe(0);
  });

  test("close() forgets packets in flight and leaves no timer armed", () => {
    const { clock, sim, rb } = setup({ delayMs: 100 });
    sim.a.writePackets([pkt(1), pkt(2)]);
    sim.close();
    expect(clock.pendingTimers).toBe(0);
    clock.advance(200);
    expect(rb.got).toEqual([]);
  });

  test("a packet written without networkProtocol is labelled by its IP version", () => {
    const { clock, sim, rb } = setup({});
    sim.a.writePackets([PacketBuffer.withPayload(0, ipv4Packet(5))]);
    clock.runDue();
    expect(rb.got[0]!.protocol).toBe(IPV4_PROTOCOL_NUMBER);
  });

  test("impossible options throw ErrInvalidOptionValue", () => {
    const clock = new ManualClock();
    const random = new SeededRandom(1);
    for (const aToB of [
      { lossRate: 1.5 },
      { duplicateRate: -0.1 },
      { delayMs: -1 },
      { reorderRate: Number.NaN },
    ]) {
      expect(() => new NetSim({ clock, random, aToB })).toThrow(ErrInvalidOptionValue);
    }
    expect(() => new NetSim({ clock, random, mtu: 10 })).toThrow(ErrInvalidOptionValue);
  });
});

describe("NetSim at speed", () => {
  test("100 MB over a 100 ms, 100 Mbit/s path with an ACK-clocked window runs in simulated time", () => {
    const clock = new ManualClock();
    const rttMs = 100;
    const bps = 100_000_000;
    const sim = new NetSim({
      clock,
      random: new SeededRandom(1),
      aToB: { bandwidthBps: bps, delayMs: rttMs / 2, queueBytes: 2_000_000 },
      bToA: { delayMs: rttMs / 2 },
    });
    const size = 1500;
    const total = Math.ceil(100_000_000 / size);
    // One bandwidth-delay product plus a little: the pipe stays full without overflowing the queue.
    const window = Math.ceil(((bps / 8) * (rttMs / 1000)) / size) + 50;
    let next = 0;
    let acked = 0;
    let doneAt = -1;
    const sendOne = () => {
      if (next < total) sim.a.writePackets([pkt(next++, size)]);
    };
    sim.b.attach({ deliverNetworkPacket: (_p, p) => sim.b.writePackets([pkt(packetSeq(p.bytes()), 40)]) });
    sim.a.attach({
      deliverNetworkPacket: () => {
        acked++;
        if (acked === total) doneAt = clock.now();
        sendOne();
      },
    });
    for (let i = 0; i < window; i++) sendOne();
    while (doneAt < 0 && clock.advanceToNext()) {}
    expect(acked).toBe(total);
    expect(sim.statsAToB.droppedQueue).toBe(0);
    expect(sim.statsAToB.bytesDelivered).toBe(total * size);
    // The bottleneck is busy from the first packet to the last: total·size·8/bps, then one RTT for the last ACK.
    const ideal = (total * size * 8 * 1000) / bps + rttMs;
    expect(doneAt).toBeCloseTo(ideal, 3);
  });
});

describe("NetSim ECN marking (ceThresholdBytes)", () => {
  /** `pkt` sent with the IPv4 ECN field `ecn` (header checksum made valid again). */
  function ecnPkt(seq: number, ecn: number): PacketBuffer {
    const p = pkt(seq);
    const b = p.data;
    const h = p.head;
    b[h + 1] = (b[h + 1]! & ~3) | ecn;
    b[h + 10] = 0;
    b[h + 11] = 0;
    const c = finishChecksum(checksum(b, h, 20));
    b[h + 10] = c >>> 8;
    b[h + 11] = c & 0xff;
    return p;
  }

  test("ECT packets that find the threshold queued ahead arrive CE with a valid header checksum; Not-ECT ones pass unmarked", () => {
    // 8 Mbit/s: 1000-byte packets; the threshold is two packets queued ahead.
    const { clock, sim } = setup({ bandwidthBps: 8_000_000, delayMs: 1, ceThresholdBytes: 2000 });
    const got: Uint8Array[] = [];
    sim.b.attach({ deliverNetworkPacket: (_p, p) => got.push(p.bytes().slice()) });
    sim.a.writePackets([ecnPkt(1, 2), ecnPkt(2, 2), ecnPkt(3, 2), ecnPkt(4, 1), ecnPkt(5, 0), ecnPkt(6, 3)]);
    clock.advance(100);
    expect(got.map((b) => b[1]! & 3)).toEqual([2, 2, 3, 3, 0, 3]);
    for (const b of got) expect(checksum(b, 0, 20)).toBe(0xffff);
    // Packets 3 (ECT(0)) and 4 (ECT(1)) were marked; 6 was CE already.
    expect(sim.statsAToB.ceMarked).toBe(2);
    expect(sim.statsAToB.droppedQueue).toBe(0);
  });

  test("IPv6: the ECN bits of the Traffic Class are set; negative thresholds are refused", () => {
    const { clock, sim } = setup({ bandwidthBps: 8_000_000, ceThresholdBytes: 0 });
    const got: Uint8Array[] = [];
    sim.b.attach({ deliverNetworkPacket: (_p, p) => got.push(p.bytes().slice()) });
    const b = new Uint8Array(60);
    b[0] = 0x60;
    b[1] = 0x20; // Traffic Class 0x02: ECT(0)
    const p = PacketBuffer.withPayload(0, b);
    p.networkProtocol = IPV6_PROTOCOL_NUMBER;
    sim.a.writePackets([p]);
    clock.advance(10);
    expect(got[0]![1]).toBe(0x30);
    expect(sim.statsAToB.ceMarked).toBe(1);
    expect(() => setup({ ceThresholdBytes: -1 })).toThrow(ErrInvalidOptionValue);
  });
});
