import { describe, expect, test } from "bun:test";
import { PacketBuffer } from "../../buffer/packet-buffer.ts";
import { ARP_REPLY, ARP_REQUEST, ArpHeader, encodeArp } from "../../header/arp.ts";
import { LinkAddress } from "../../tcpip/link-address.ts";
import { ARP_PROTOCOL_NUMBER, IPV4_PROTOCOL_NUMBER } from "../../tcpip/protocols.ts";
import { addr, mac, twoHosts } from "../../transport/udp/testing.ts";

const ZERO = new LinkAddress(new Uint8Array(6));

function arp(
  op: number,
  senderHw: LinkAddress,
  senderIp: string,
  targetIp: string,
  targetHw = ZERO,
): PacketBuffer {
  const b = new Uint8Array(28);
  encodeArp(b, 0, { op, senderHw, senderIp: addr(senderIp), targetHw, targetIp: addr(targetIp) });
  return PacketBuffer.wrap(b);
}

/** B alone with what it writes to the wire captured (the pipe is not flushed). */
function host() {
  const h = twoHosts();
  h.wire.pipe.close();
  const nic = h.b.nic(1)!;
  const written = () => h.wire.b.wire.readAll().map((p) => p.pkt.bytes().slice());
  written();
  const state = (ip: string) =>
    h.b.neighbors(1, IPV4_PROTOCOL_NUMBER).find((n) => n.address.equals(addr(ip)));
  return { h, nic, written, state };
}

describe("ARP (RFC 826)", () => {
  test("a request for our address is answered to the asker and creates a STALE entry", () => {
    const { nic, written, state, h } = host();
    nic.deliverNetworkPacket(ARP_PROTOCOL_NUMBER, arp(ARP_REQUEST, mac(77), "198.18.0.77", "198.18.0.2"));
    const out = written();
    expect(out.length).toBe(1);
    // Ethernet header, then the ARP reply.
    expect([...out[0]!.subarray(0, 6)]).toEqual([...mac(77).bytes]);
    const r = new ArpHeader(out[0]!, 14);
    expect(r.op).toBe(ARP_REPLY);
    expect(r.senderProtocolAddress().toString()).toBe("198.18.0.2");
    expect(r.senderHardwareAddress().equals(h.b.nic(1)!.linkAddress)).toBe(true);
    expect(r.targetProtocolAddress().toString()).toBe("198.18.0.77");
    expect(state("198.18.0.77")?.state).toBe("stale");
    expect(h.b.stats.arp.repliesSent).toBe(1);
  });

  test("requests for others are not answered and do not create entries", () => {
    const { nic, written, state, h } = host();
    const before = h.b.stats.arp.requestsReceivedUnknownTargetAddress;
    nic.deliverNetworkPacket(ARP_PROTOCOL_NUMBER, arp(ARP_REQUEST, mac(78), "198.18.0.78", "198.18.0.99"));
    expect(written().length).toBe(0);
    expect(state("198.18.0.78")).toBeUndefined();
    expect(h.b.stats.arp.requestsReceivedUnknownTargetAddress).toBe(before + 1);
  });

  test("a probe (sender 0.0.0.0, RFC 5227) is answered but leaves the cache alone", () => {
    const { nic, written, h } = host();
    nic.deliverNetworkPacket(ARP_PROTOCOL_NUMBER, arp(ARP_REQUEST, mac(79), "0.0.0.0", "198.18.0.2"));
    expect(written().length).toBe(1);
    expect(h.b.neighbors(1, IPV4_PROTOCOL_NUMBER).length).toBe(0);
  });

  test("malformed, multicast-sender and unknown-op packets are counted and dropped", () => {
    const { nic, written, h } = host();
    nic.deliverNetworkPacket(ARP_PROTOCOL_NUMBER, PacketBuffer.wrap(new Uint8Array(10)));
    const bad = arp(ARP_REQUEST, mac(80), "198.18.0.80", "198.18.0.2");
    bad.data[1] = 6;
    nic.deliverNetworkPacket(ARP_PROTOCOL_NUMBER, bad);
    nic.deliverNetworkPacket(
      ARP_PROTOCOL_NUMBER,
      arp(ARP_REQUEST, new LinkAddress(Uint8Array.of(1, 0, 0x5e, 0, 0, 1)), "198.18.0.81", "198.18.0.2"),
    );
    nic.deliverNetworkPacket(ARP_PROTOCOL_NUMBER, arp(9, mac(82), "198.18.0.82", "198.18.0.2"));
    expect(written().length).toBe(0);
    expect(h.b.stats.arp.malformedPacketsReceived).toBe(4);
  });

  test("an unsolicited reply for an unknown neighbour is ignored (RFC 4861 §7.2.5 rules)", () => {
    const { nic, state } = host();
    nic.deliverNetworkPacket(
      ARP_PROTOCOL_NUMBER,
      arp(ARP_REPLY, mac(83), "198.18.0.83", "198.18.0.2", mac(1)),
    );
    expect(state("198.18.0.83")).toBeUndefined();
  });

  test("static neighbours need no requests", () => {
    const { h, written } = host();
    h.b.addStaticNeighbor(1, IPV4_PROTOCOL_NUMBER, addr("198.18.0.90"), mac(90));
    const route = h.b.findRoute(0, undefined, addr("198.18.0.90"), IPV4_PROTOCOL_NUMBER);
    route.writePacket(PacketBuffer.withPayload(route.maxHeaderLength, new Uint8Array(8)), {
      protocol: 253,
      ttl: 64,
      tos: 0,
    });
    const out = written();
    expect(out.length).toBe(1);
    expect([...out[0]!.subarray(0, 6)]).toEqual([...mac(90).bytes]);
    expect(h.b.neighbors(1, IPV4_PROTOCOL_NUMBER)[0]?.state).toBe("static");
  });

  test("the subnet's directed broadcast goes to the link broadcast; the all-zeros form is resolved like a host", () => {
    const { h, written } = host();
    const send = (dst: string) => {
      const route = h.b.findRoute(0, undefined, addr(dst), IPV4_PROTOCOL_NUMBER);
      route.writePacket(PacketBuffer.withPayload(route.maxHeaderLength, new Uint8Array(8)), {
        protocol: 253,
        ttl: 64,
        tos: 0,
      });
      return written();
    };
    // RFC 1122 §3.3.6: sent in the standard (-1) form only.
    const bcast = send("198.18.0.255");
    expect(bcast.length).toBe(1);
    expect([...bcast[0]!.subarray(0, 6)]).toEqual([...LinkAddress.BROADCAST.bytes]);
    expect(bcast[0]![12]! * 256 + bcast[0]![13]!).toBe(IPV4_PROTOCOL_NUMBER);
    // The old all-zeros form is not sent as a broadcast: an ARP request asks for it.
    const zeros = send("198.18.0.0");
    expect(zeros.length).toBe(1);
    expect(zeros[0]![12]! * 256 + zeros[0]![13]!).toBe(ARP_PROTOCOL_NUMBER);
  });
});
