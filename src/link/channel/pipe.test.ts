import { describe, expect, test } from "bun:test";
import { PacketBuffer } from "../../buffer/packet-buffer.ts";
import { ManualClock } from "../../tcpip/clock.ts";
import { IPV4_PROTOCOL_NUMBER } from "../../tcpip/protocols.ts";
import { SeededRandom } from "../../tcpip/random.ts";
import type { NetworkDispatcher } from "../link-endpoint.ts";
import { ipv4Packet, packetSeq } from "../testing/conformance.ts";
import { ChannelEndpoint } from "./channel.ts";
import { connectChannels } from "./pipe.ts";

function pkt(seq: number): PacketBuffer {
  const p = PacketBuffer.withPayload(0, ipv4Packet(seq));
  p.networkProtocol = IPV4_PROTOCOL_NUMBER;
  return p;
}

/**
 * A toy stack on one channel: records what arrives and answers packet n with
 * n + 1 while n < `upTo`, measuring how deeply deliveries nest.
 */
class Peer implements NetworkDispatcher {
  got: number[] = [];
  depth = 0;
  maxDepth = 0;
  constructor(
    readonly link: ChannelEndpoint,
    readonly upTo: number,
  ) {
    link.attach(this);
  }
  deliverNetworkPacket(_protocol: number, p: PacketBuffer): void {
    this.depth++;
    this.maxDepth = Math.max(this.maxDepth, this.depth);
    const n = packetSeq(p.bytes());
    this.got.push(n);
    if (n < this.upTo) this.link.writePackets([pkt(n + 1)]);
    this.depth--;
  }
}

function pair(upToA: number, upToB: number) {
  const a = new ChannelEndpoint({ mtu: 1500 });
  const b = new ChannelEndpoint({ mtu: 1500 });
  return { a, b, pa: new Peer(a, upToA), pb: new Peer(b, upToB) };
}

describe("Pipe", () => {
  test("nothing crosses until flush; flush runs the whole exchange without nesting", () => {
    const { a, b, pa, pb } = pair(10, 10);
    const pipe = connectChannels(a, b);
    a.writePackets([pkt(0)]);
    expect(pb.got).toEqual([]);
    expect(pipe.pending).toBe(1);
    expect(pipe.flush()).toBe(11);
    expect(pb.got).toEqual([0, 2, 4, 6, 8, 10]);
    expect(pa.got).toEqual([1, 3, 5, 7, 9]);
    expect(pa.maxDepth).toBe(1);
    expect(pb.maxDepth).toBe(1);
    expect(pipe.pending).toBe(0);
    expect(pipe.stats).toEqual({ aToB: 6, bToA: 5, filtered: 0 });
  });

  test("the receiver gets a copy of the bytes without the sender's metadata", () => {
    const a = new ChannelEndpoint({ mtu: 1500 });
    const b = new ChannelEndpoint({ mtu: 1500 });
    const got: { protocol: number; pkt: PacketBuffer }[] = [];
    b.attach({ deliverNetworkPacket: (protocol, p) => got.push({ protocol, pkt: p }) });
    const pipe = connectChannels(a, b);
    const sent = pkt(5);
    sent.transportHeader = 20;
    a.writePackets([sent]);
    pipe.flush();
    sent.data.fill(0);
    expect(got.length).toBe(1);
    expect(got[0]!.protocol).toBe(IPV4_PROTOCOL_NUMBER);
    expect(got[0]!.pkt.bytes()).toEqual(ipv4Packet(5));
    expect(got[0]!.pkt.transportHeader).toBe(-1);
  });

  test("an endless exchange stops at maxPerFlush and resumes at the next flush", () => {
    const { a, b, pa, pb } = pair(Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY);
    const pipe = connectChannels(a, b, { maxPerFlush: 100 });
    a.writePackets([pkt(0)]);
    expect(pipe.flush()).toBe(100);
    expect(pipe.pending).toBe(1);
    expect(pipe.flush()).toBe(100);
    expect(pa.got.length + pb.got.length).toBe(200);
    expect(pa.maxDepth).toBe(1);
  });

  test("step moves one packet at a time, A's side first", () => {
    const { a, b, pa, pb } = pair(0, 0);
    const pipe = connectChannels(a, b);
    a.writePackets([pkt(1)]);
    b.writePackets([pkt(2)]);
    expect(pipe.step()).toBe(true);
    expect([pa.got, pb.got]).toEqual([[], [1]]);
    expect(pipe.step()).toBe(true);
    expect([pa.got, pb.got]).toEqual([[2], [1]]);
    expect(pipe.step()).toBe(false);
  });

  test("a filter loses packets deterministically and counts them", () => {
    const run = () => {
      const { a, b, pb } = pair(0, 0);
      const rng = new SeededRandom(42);
      const pipe = connectChannels(a, b, { filter: () => rng.float() >= 0.3 });
      for (let i = 0; i < 100; i++) a.writePackets([pkt(i)]);
      pipe.flush();
      return { got: pb.got, filtered: pipe.stats.filtered };
    };
    const first = run();
    expect(first.filtered).toBeGreaterThan(0);
    expect(first.got.length + first.filtered).toBe(100);
    expect(run()).toEqual(first);
  });

  test("auto mode delivers inside the write, one level deep at most", () => {
    const { a, b, pa, pb } = pair(6, 6);
    const pipe = connectChannels(a, b, { auto: true });
    a.writePackets([pkt(0)]);
    expect(pb.got).toEqual([0, 2, 4, 6]);
    expect(pa.got).toEqual([1, 3, 5]);
    expect(pa.maxDepth).toBe(1);
    expect(pb.maxDepth).toBe(1);
    pipe.close();
    a.writePackets([pkt(0)]);
    expect(pipe.pending).toBe(1);
  });

  test("with a ManualClock the same timers give the same trace on every run", () => {
    const run = () => {
      const clock = new ManualClock();
      const { a, b, pa, pb } = pair(3, 3);
      const pipe = connectChannels(a, b);
      const trace: string[] = [];
      clock.afterFunc(10, () => a.writePackets([pkt(0)]));
      clock.afterFunc(5, () => b.writePackets([pkt(100)]));
      for (let t = 0; t < 4; t++) {
        clock.advance(5);
        pipe.flush();
        trace.push(`${clock.now()} a:${pa.got.join(",")} b:${pb.got.join(",")}`);
      }
      return trace;
    };
    const first = run();
    expect(first).toEqual(["5 a:100 b:", "10 a:100,1,3 b:0,2", "15 a:100,1,3 b:0,2", "20 a:100,1,3 b:0,2"]);
    expect(run()).toEqual(first);
  });
});
