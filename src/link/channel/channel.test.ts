import { describe, expect, test } from "bun:test";
import { PacketBuffer } from "../../buffer/packet-buffer.ts";
import { ErrInvalidOptionValue } from "../../tcpip/errors.ts";
import { IPV4_PROTOCOL_NUMBER, IPV6_PROTOCOL_NUMBER } from "../../tcpip/protocols.ts";
import { LinkCapability, type NetworkDispatcher } from "../link-endpoint.ts";
import { ipv4Packet, packetSeq, runLinkConformance } from "../testing/conformance.ts";
import { ChannelEndpoint } from "./channel.ts";

runLinkConformance("channel", () => {
  const link = new ChannelEndpoint({ mtu: 1500 });
  return {
    link,
    inject: (protocol, bytes) => link.injectInbound(protocol, bytes),
    takeWritten: () => link.readAll().map(({ protocol, pkt }) => ({ protocol, bytes: pkt.bytes() })),
  };
});

function pkt(seq: number, size = 32, protocol = IPV4_PROTOCOL_NUMBER): PacketBuffer {
  const p = PacketBuffer.withPayload(0, ipv4Packet(seq, size));
  p.networkProtocol = protocol;
  return p;
}

class Recorder implements NetworkDispatcher {
  got: { protocol: number; pkt: PacketBuffer }[] = [];
  deliverNetworkPacket(protocol: number, p: PacketBuffer): void {
    this.got.push({ protocol, pkt: p });
  }
}

describe("ChannelEndpoint", () => {
  test("reports what it was built with", () => {
    const c = new ChannelEndpoint({
      mtu: 9000,
      capabilities: LinkCapability.HardwareGSO,
      gsoMaxSize: 65536,
      maxHeaderLength: 10,
    });
    expect([c.mtu, c.capabilities, c.gsoMaxSize, c.maxHeaderLength, c.linkAddress.length]).toEqual([
      9000,
      LinkCapability.HardwareGSO,
      65536,
      10,
      0,
    ]);
    expect(c.carriesFrames).toBe(false);
    expect(new ChannelEndpoint({ mtu: 1500, mode: "frame" }).carriesFrames).toBe(true);
  });

  test("rejects a nonsensical mtu or queue size with ErrInvalidOptionValue", () => {
    expect(() => new ChannelEndpoint({ mtu: 0 })).toThrow(ErrInvalidOptionValue);
    expect(() => new ChannelEndpoint({ mtu: 1.5 })).toThrow(ErrInvalidOptionValue);
    expect(() => new ChannelEndpoint({ mtu: 1500, queueSize: 0 })).toThrow(ErrInvalidOptionValue);
  });

  test("read returns packets oldest first with the protocol they were written with, then undefined", () => {
    const c = new ChannelEndpoint({ mtu: 1500 });
    const a = pkt(1);
    const b = pkt(2, 32, IPV6_PROTOCOL_NUMBER);
    expect(c.writePackets([a, b])).toBe(2);
    expect(c.queued).toBe(2);
    expect(c.read()).toEqual({ protocol: IPV4_PROTOCOL_NUMBER, pkt: a });
    expect(c.read()).toEqual({ protocol: IPV6_PROTOCOL_NUMBER, pkt: b });
    expect(c.read()).toBeUndefined();
    expect(c.stats.written).toBe(2);
  });

  test("a packet written without a protocol is read with the one its IP version says", () => {
    const c = new ChannelEndpoint({ mtu: 1500 });
    c.writePackets([
      PacketBuffer.wrap(ipv4Packet(1)),
      PacketBuffer.wrap(Uint8Array.of(0x60, 0, 0, 0)),
      PacketBuffer.alloc(0, 4),
    ]);
    expect(c.readAll().map((p) => p.protocol)).toEqual([IPV4_PROTOCOL_NUMBER, IPV6_PROTOCOL_NUMBER, 0]);
  });

  test("a full queue drops the rest of the batch and counts it", () => {
    const c = new ChannelEndpoint({ mtu: 1500, queueSize: 3 });
    expect(c.writePackets([pkt(1), pkt(2)])).toBe(2);
    expect(c.writePackets([pkt(3), pkt(4), pkt(5)])).toBe(1);
    expect(c.stats.queueFull).toBe(2);
    expect(c.readAll().map((p) => packetSeq(p.pkt.bytes()))).toEqual([1, 2, 3]);
    // The ring wraps around once read.
    expect(c.writePackets([pkt(6), pkt(7), pkt(8)])).toBe(3);
    expect(c.readAll().map((p) => packetSeq(p.pkt.bytes()))).toEqual([6, 7, 8]);
  });

  test("drain empties the queue and says how many it dropped", () => {
    const c = new ChannelEndpoint({ mtu: 1500, queueSize: 4 });
    c.writePackets([pkt(1), pkt(2), pkt(3)]);
    c.read();
    expect(c.drain()).toBe(2);
    expect(c.queued).toBe(0);
    expect(c.read()).toBeUndefined();
  });

  test("packets past the MTU are dropped and counted; frame mode allows the 14-byte header", () => {
    const ip = new ChannelEndpoint({ mtu: 100 });
    const at = PacketBuffer.alloc(0, 100);
    const over = PacketBuffer.alloc(0, 101);
    expect(ip.writePackets([at, over])).toBe(1);
    expect(ip.stats.oversize).toBe(1);
    const frame = new ChannelEndpoint({ mtu: 100, mode: "frame" });
    expect(frame.writePackets([PacketBuffer.alloc(0, 114), PacketBuffer.alloc(0, 115)])).toBe(1);
    const lax = new ChannelEndpoint({ mtu: 100, enforceMtu: false });
    expect(lax.writePackets([PacketBuffer.alloc(0, 5000)])).toBe(1);
  });

  test("GSO super-packets may reach gsoMaxSize when the link advertises HardwareGSO", () => {
    const gso = {
      type: 1,
      size: 1448,
      headerLength: 52,
      needsChecksum: true,
      checksumStart: 0,
      checksumOffset: 0,
    };
    const c = new ChannelEndpoint({ mtu: 1500, capabilities: LinkCapability.HardwareGSO, gsoMaxSize: 65536 });
    const big = PacketBuffer.alloc(0, 60000);
    big.gso = gso;
    expect(c.writePackets([big])).toBe(1);
    const plain = new ChannelEndpoint({ mtu: 1500, gsoMaxSize: 65536 });
    const big2 = PacketBuffer.alloc(0, 60000);
    big2.gso = gso;
    expect(plain.writePackets([big2])).toBe(0);
  });

  test("injectInbound delivers to the dispatcher, or counts the drop when detached", () => {
    const c = new ChannelEndpoint({ mtu: 1500 });
    const r = new Recorder();
    c.injectInbound(IPV4_PROTOCOL_NUMBER, ipv4Packet(1));
    expect(c.stats.injectedDetached).toBe(1);
    c.attach(r);
    const p = pkt(2);
    c.injectInbound(IPV4_PROTOCOL_NUMBER, p);
    expect(r.got).toEqual([{ protocol: IPV4_PROTOCOL_NUMBER, pkt: p }]);
    expect(c.stats.injected).toBe(1);
  });

  test("onWrite runs once per batch that queued something, after the packets are readable", () => {
    const c = new ChannelEndpoint({ mtu: 100 });
    const seen: number[] = [];
    const off = c.onWrite(() => seen.push(c.queued));
    c.writePackets([pkt(1), pkt(2)]);
    c.writePackets([PacketBuffer.alloc(0, 500)]); // oversize: nothing queued, no call
    c.writePackets([]);
    expect(seen).toEqual([2]);
    off();
    c.writePackets([pkt(3)]);
    expect(seen).toEqual([2]);
  });

  test("close drops queued packets and every later write", async () => {
    const c = new ChannelEndpoint({ mtu: 1500 });
    c.writePackets([pkt(1)]);
    c.close();
    expect(c.closed).toBe(true);
    expect(c.queued).toBe(0);
    expect(c.writePackets([pkt(2), pkt(3)])).toBe(0);
    expect(c.stats.closed).toBe(2);
    await c.wait();
  });
});
