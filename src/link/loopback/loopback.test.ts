import { describe, expect, test } from "bun:test";
import { PacketBuffer } from "../../buffer/packet-buffer.ts";
import { ManualClock } from "../../tcpip/clock.ts";
import { ErrInvalidOptionValue } from "../../tcpip/errors.ts";
import { IPV4_PROTOCOL_NUMBER, IPV6_PROTOCOL_NUMBER } from "../../tcpip/protocols.ts";
import { LinkCapability, type NetworkDispatcher } from "../link-endpoint.ts";
import { ipv4Packet, ipv6Packet, packetSeq, runLinkConformance } from "../testing/conformance.ts";
import { LoopbackEndpoint } from "./loopback.ts";

runLinkConformance("loopback", () => {
  const link = new LoopbackEndpoint();
  return {
    link,
    inject: (protocol, bytes) => {
      const p = PacketBuffer.withPayload(0, bytes);
      p.networkProtocol = protocol;
      link.writePackets([p]);
    },
  };
});

function pkt(seq: number): PacketBuffer {
  const p = PacketBuffer.withPayload(0, ipv4Packet(seq));
  p.networkProtocol = IPV4_PROTOCOL_NUMBER;
  return p;
}

/** Answers packet n with n + 1 while n < upTo, and measures how deeply deliveries nest. */
class Echo implements NetworkDispatcher {
  got: number[] = [];
  depth = 0;
  maxDepth = 0;
  verified: boolean[] = [];
  constructor(
    readonly link: LoopbackEndpoint,
    readonly upTo: number,
  ) {
    link.attach(this);
  }
  deliverNetworkPacket(_protocol: number, p: PacketBuffer): void {
    this.depth++;
    this.maxDepth = Math.max(this.maxDepth, this.depth);
    const n = packetSeq(p.bytes());
    this.got.push(n);
    this.verified.push(p.checksumVerified);
    if (n < this.upTo) this.link.writePackets([pkt(n + 1)]);
    this.depth--;
  }
}

describe("LoopbackEndpoint", () => {
  test("has a 65536-byte MTU, the Loopback capability and no link address", () => {
    const l = new LoopbackEndpoint();
    expect(l.mtu).toBe(65536);
    expect(l.capabilities & LinkCapability.Loopback).toBe(LinkCapability.Loopback);
    expect(l.capabilities & LinkCapability.ResolutionRequired).toBe(0);
    expect(l.linkAddress.length).toBe(0);
    expect(() => new LoopbackEndpoint({ mtu: -1 })).toThrow(ErrInvalidOptionValue);
  });

  test("a long exchange is delivered by one loop: deliveries never nest", () => {
    const l = new LoopbackEndpoint();
    const e = new Echo(l, 1000);
    l.writePackets([pkt(0)]);
    expect(e.got.length).toBe(1001);
    expect(e.got.at(-1)).toBe(1000);
    expect(e.maxDepth).toBe(1);
    expect(l.pending).toBe(0);
  });

  test("a batch is queued whole before the first packet is delivered", () => {
    const l = new LoopbackEndpoint();
    const seen: number[] = [];
    l.attach({ deliverNetworkPacket: () => seen.push(l.pending) });
    l.writePackets([pkt(1), pkt(2), pkt(3)]);
    expect(seen).toEqual([2, 1, 0]);
  });

  test("the receiver gets its own copy, marked checksum-verified, with the protocol", () => {
    const l = new LoopbackEndpoint();
    const got: { protocol: number; pkt: PacketBuffer }[] = [];
    l.attach({ deliverNetworkPacket: (protocol, p) => got.push({ protocol, pkt: p }) });
    const sent = pkt(9);
    l.writePackets([sent]);
    sent.data.fill(0);
    expect(got[0]!.pkt.bytes()).toEqual(ipv4Packet(9));
    expect(got[0]!.protocol).toBe(IPV4_PROTOCOL_NUMBER);
    expect(got[0]!.pkt.checksumVerified).toBe(true);
    // Without a protocol on the packet, the version nibble decides.
    l.writePackets([PacketBuffer.wrap(ipv6Packet(1))]);
    expect(got[1]!.protocol).toBe(IPV6_PROTOCOL_NUMBER);
  });

  test("maxPerDrain bounds an endless exchange; flush resumes it", () => {
    const l = new LoopbackEndpoint({ maxPerDrain: 50 });
    const e = new Echo(l, Number.POSITIVE_INFINITY);
    l.writePackets([pkt(0)]);
    expect(e.got.length).toBe(50);
    expect(l.pending).toBe(1);
    expect(l.flush()).toBe(50);
    expect(e.got.length).toBe(100);
  });

  test("with schedule, delivery waits for the scheduler (a ManualClock timer)", () => {
    const clock = new ManualClock();
    const l = new LoopbackEndpoint({ schedule: (fn) => clock.afterFunc(0, fn) });
    const e = new Echo(l, 3);
    l.writePackets([pkt(0)]);
    l.writePackets([pkt(10)]);
    expect(e.got).toEqual([]);
    expect(clock.pendingTimers).toBe(1);
    clock.runDue();
    expect(e.got).toEqual([0, 10, 1, 2, 3]);
    expect(e.maxDepth).toBe(1);
  });

  test("oversize packets, packets while detached and after close are dropped and counted", () => {
    const l = new LoopbackEndpoint({ mtu: 100 });
    expect(l.writePackets([PacketBuffer.alloc(0, 101)])).toBe(0);
    expect(l.stats.oversize).toBe(1);
    expect(l.writePackets([pkt(1)])).toBe(1);
    expect(l.stats.detached).toBe(1);
    l.close();
    expect(l.writePackets([pkt(2)])).toBe(0);
    expect(l.stats.closed).toBe(1);
  });
});
