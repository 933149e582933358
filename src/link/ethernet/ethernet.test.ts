import { describe, expect, test } from "bun:test";
import { PacketBuffer } from "../../buffer/packet-buffer.ts";
import { ErrInvalidOptionValue } from "../../tcpip/errors.ts";
import { type LinkAddress, parseMACAddress } from "../../tcpip/link-address.ts";
import { ARP_PROTOCOL_NUMBER, IPV4_PROTOCOL_NUMBER, IPV6_PROTOCOL_NUMBER } from "../../tcpip/protocols.ts";
import { ChannelEndpoint } from "../channel/channel.ts";
import { connectChannels } from "../channel/pipe.ts";
import { LinkCapability, type NetworkDispatcher } from "../link-endpoint.ts";
import { ipv4Packet, runLinkConformance } from "../testing/conformance.ts";
import { ethernetFrame, parseEthernetFrame } from "../testing/frames.ts";
import { EthernetEndpoint } from "./ethernet.ts";
import { newEthernetChannel } from "./ethernet-channel.ts";

const MAC_A = parseMACAddress("02:00:00:00:00:0a");
const MAC_B = parseMACAddress("02:00:00:00:00:0b");
const MAC_OTHER = parseMACAddress("02:00:00:00:00:99");
const BCAST = parseMACAddress("ff:ff:ff:ff:ff:ff");
const MCAST_V6 = parseMACAddress("33:33:00:00:00:01");

runLinkConformance("ethernet over channel", () => {
  const wire = new ChannelEndpoint({ mtu: 1500, mode: "frame", linkAddress: MAC_A });
  const link = new EthernetEndpoint(wire);
  return {
    link,
    inject: (protocol, bytes) => wire.injectInbound(0, ethernetFrame(MAC_A, MAC_OTHER, protocol, bytes)),
    injectRaw: (bytes) => wire.injectInbound(0, bytes),
    takeWritten: () =>
      wire.readAll().map(({ pkt }) => {
        const f = parseEthernetFrame(pkt.bytes())!;
        return { protocol: f.type, bytes: f.payload };
      }),
  };
});

interface Got {
  protocol: number;
  bytes: Uint8Array;
  src: string | undefined;
  dst: string | undefined;
  group: boolean;
  header: number;
  head: number;
}

class Recorder implements NetworkDispatcher {
  got: Got[] = [];
  deliverNetworkPacket(protocol: number, p: PacketBuffer): void {
    this.got.push({
      protocol,
      bytes: p.bytes().slice(),
      src: p.linkSrc?.toString(),
      dst: p.linkDst?.toString(),
      group: p.linkBroadcastOrMulticast,
      header: p.linkHeader,
      head: p.head,
    });
  }
}

function setup(opts: { promiscuous?: boolean } = {}) {
  const wire = new ChannelEndpoint({ mtu: 1500, mode: "frame", linkAddress: MAC_A });
  const eth = new EthernetEndpoint(wire, opts);
  const r = new Recorder();
  eth.attach(r);
  return { wire, eth, r };
}

function outbound(protocol: number, bytes: Uint8Array, linkDst?: LinkAddress): PacketBuffer {
  const p = PacketBuffer.withPayload(14, bytes);
  p.networkProtocol = protocol;
  if (linkDst) p.linkDst = linkDst;
  return p;
}

describe("EthernetEndpoint", () => {
  test("advertises ResolutionRequired, a 14-byte header, the lower MTU and its MAC", () => {
    const { eth } = setup();
    expect(eth.capabilities & LinkCapability.ResolutionRequired).toBe(LinkCapability.ResolutionRequired);
    expect(eth.maxHeaderLength).toBe(14);
    expect(eth.mtu).toBe(1500);
    expect(eth.linkAddress.toString()).toBe("02:00:00:00:00:0a");
    const own = new EthernetEndpoint(new ChannelEndpoint({ mtu: 1500, mode: "frame" }), {
      linkAddress: MAC_B,
    });
    expect(own.linkAddress.equals(MAC_B)).toBe(true);
  });

  test("a MAC that is not 6 bytes is an ErrInvalidOptionValue", () => {
    expect(() => new EthernetEndpoint(new ChannelEndpoint({ mtu: 1500, mode: "frame" }))).toThrow(
      ErrInvalidOptionValue,
    );
  });

  test("writes dst, src and EtherType in front of the packet (RFC 894)", () => {
    const { wire, eth } = setup();
    const ip = ipv4Packet(1);
    expect(eth.writePackets([outbound(IPV4_PROTOCOL_NUMBER, ip, MAC_B)])).toBe(1);
    const out = wire.read()!;
    const frame = out.pkt.bytes();
    expect(Array.from(frame.subarray(0, 14))).toEqual([2, 0, 0, 0, 0, 0x0b, 2, 0, 0, 0, 0, 0x0a, 0x08, 0x00]);
    expect(frame.subarray(14)).toEqual(ip);
    expect(out.pkt.linkHeader).toBe(out.pkt.head);
  });

  test("without pkt.linkDst the frame goes to the broadcast address", () => {
    const { wire, eth } = setup();
    eth.writePackets([outbound(ARP_PROTOCOL_NUMBER, new Uint8Array(28))]);
    const f = parseEthernetFrame(wire.read()!.pkt.bytes())!;
    expect(Array.from(f.dst)).toEqual([255, 255, 255, 255, 255, 255]);
    expect(f.type).toBe(ARP_PROTOCOL_NUMBER);
  });

  test("a packet without headroom still gets its header (the buffer grows)", () => {
    const { wire, eth } = setup();
    const p = PacketBuffer.wrap(ipv4Packet(3));
    p.networkProtocol = IPV4_PROTOCOL_NUMBER;
    eth.writePackets([p]);
    expect(wire.read()!.pkt.bytes().subarray(14)).toEqual(ipv4Packet(3));
  });

  test("an outbound packet without a network protocol is dropped and counted, the rest go", () => {
    const { wire, eth } = setup();
    const bad = PacketBuffer.withPayload(14, ipv4Packet(1));
    expect(eth.writePackets([bad, outbound(IPV4_PROTOCOL_NUMBER, ipv4Packet(2))])).toBe(1);
    expect(eth.stats.txNoProtocol).toBe(1);
    expect(wire.queued).toBe(1);
  });

  test("a unicast frame for us is stripped and its link fields recorded", () => {
    const { wire, r } = setup();
    const ip = ipv4Packet(1);
    wire.injectInbound(0, ethernetFrame(MAC_A, MAC_B, IPV4_PROTOCOL_NUMBER, ip));
    expect(r.got).toEqual([
      {
        protocol: IPV4_PROTOCOL_NUMBER,
        bytes: ip,
        src: "02:00:00:00:00:0b",
        dst: "02:00:00:00:00:0a",
        group: false,
        header: 0,
        head: 14,
      },
    ]);
  });

  test("broadcast and multicast frames are accepted and flagged", () => {
    const { wire, r } = setup();
    wire.injectInbound(0, ethernetFrame(BCAST, MAC_B, ARP_PROTOCOL_NUMBER, new Uint8Array(28)));
    wire.injectInbound(0, ethernetFrame(MCAST_V6, MAC_B, IPV6_PROTOCOL_NUMBER, new Uint8Array(40)));
    expect(r.got.map((g) => [g.protocol, g.dst, g.group])).toEqual([
      [ARP_PROTOCOL_NUMBER, "ff:ff:ff:ff:ff:ff", true],
      [IPV6_PROTOCOL_NUMBER, "33:33:00:00:00:01", true],
    ]);
  });

  test("a unicast frame for another MAC is dropped unless promiscuous", () => {
    const { wire, eth, r } = setup();
    const frame = ethernetFrame(MAC_OTHER, MAC_B, IPV4_PROTOCOL_NUMBER, ipv4Packet(1));
    wire.injectInbound(0, frame.slice());
    expect(r.got.length).toBe(0);
    expect(eth.stats.rxNotForUs).toBe(1);
    eth.setPromiscuous(true);
    expect(eth.isPromiscuous).toBe(true);
    wire.injectInbound(0, frame.slice());
    expect(r.got.map((g) => g.dst)).toEqual(["02:00:00:00:00:99"]);
  });

  test("short frames and 802.3 length frames are counted and dropped", () => {
    const { wire, eth, r } = setup();
    wire.injectInbound(0, new Uint8Array(0));
    wire.injectInbound(0, new Uint8Array(13));
    // Type 0x0040 is an 802.3 length (< 0x0600), not an EtherType.
    wire.injectInbound(0, ethernetFrame(MAC_A, MAC_B, 0x0040, new Uint8Array(64)));
    expect(r.got.length).toBe(0);
    expect(eth.stats.rxMalformed).toBe(2);
    expect(eth.stats.rxUnsupported).toBe(1);
  });

  test("the source address object is reused for a run of frames from one peer", () => {
    const { wire } = setup();
    const srcs: (LinkAddress | undefined)[] = [];
    wire.attach(undefined);
    const eth = new EthernetEndpoint(wire);
    eth.attach({ deliverNetworkPacket: (_p, pkt) => srcs.push(pkt.linkSrc) });
    for (let i = 0; i < 3; i++) wire.injectInbound(0, ethernetFrame(MAC_A, MAC_B, 0x0800, ipv4Packet(i)));
    expect(srcs[0]).toBe(srcs[2]!);
    expect(srcs[0]!.equals(MAC_B)).toBe(true);
  });

  test("two stacks over frame channels: a broadcast request and a unicast reply", () => {
    const { wire: wireA, link: a } = newEthernetChannel({ mtu: 1500, linkAddress: MAC_A });
    const { wire: wireB, link: b } = newEthernetChannel({ mtu: 1500, linkAddress: MAC_B });
    expect(wireA.carriesFrames).toBe(true);
    const ra = new Recorder();
    // B answers every broadcast with a unicast to the sender, as ARP would.
    b.attach({
      deliverNetworkPacket: (protocol, p) => {
        if (p.linkBroadcastOrMulticast && p.linkSrc) {
          b.writePackets([outbound(protocol, Uint8Array.of(2, 2, 2), p.linkSrc)]);
        }
      },
    });
    a.attach(ra);
    const pipe = connectChannels(wireA, wireB);
    a.writePackets([outbound(ARP_PROTOCOL_NUMBER, Uint8Array.of(1, 1, 1))]);
    expect(pipe.flush()).toBe(2);
    expect(ra.got.map((g) => [g.protocol, g.src, g.dst, g.group, Array.from(g.bytes)])).toEqual([
      [ARP_PROTOCOL_NUMBER, "02:00:00:00:00:0b", "02:00:00:00:00:0a", false, [2, 2, 2]],
    ]);
  });

  test("detached, it detaches the lower link too", () => {
    const { wire, eth } = setup();
    expect(wire.isAttached()).toBe(true);
    eth.attach(undefined);
    expect(wire.isAttached()).toBe(false);
  });
});
