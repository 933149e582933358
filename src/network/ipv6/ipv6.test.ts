import { describe, expect, test } from "bun:test";
import {
  ICMPV6_DST_UNREACHABLE,
  ICMPV6_ECHO_REPLY,
  ICMPV6_ECHO_REQUEST,
  ICMPV6_NEIGHBOR_ADVERT,
  ICMPV6_NEIGHBOR_SOLICIT,
  ICMPV6_ROUTER_SOLICIT,
} from "../../header/icmpv6.ts";
import { interfaceIdFromMac, linkLocalFromMac, solicitedNodeAddress } from "../../header/ipv6.ts";
import { Address } from "../../tcpip/address.ts";
import { IPV6_PROTOCOL_NUMBER } from "../../tcpip/protocols.ts";
import { a6, addGlobal, buildIpv6, inject, MAC_A, ping, sendUdp, twoHosts, udpPayload } from "./_harness.ts";
import { MAX_PATH_MTU_ENTRIES } from "./protocol.ts";

describe("addresses from the MAC", () => {
  test("modified EUI-64 (RFC 4291 App. A): ff:fe inserted, U/L bit inverted", () => {
    expect(Array.from(interfaceIdFromMac(MAC_A))).toEqual([0x00, 0, 0, 0xff, 0xfe, 0, 0, 0x0a]);
    expect(linkLocalFromMac(MAC_A).toString()).toBe("fe80::ff:fe00:a");
  });
  test("solicited-node group (RFC 4291 §2.7.1)", () => {
    expect(solicitedNodeAddress(a6("fd00::12:3456:789a")).toString()).toBe("ff02::1:ff56:789a");
  });
});

describe("link-local address and DAD at NIC enable", () => {
  test("tentative until DAD passes, then assigned; NS from :: to the solicited-node group", () => {
    const lan = twoHosts();
    const { a } = lan;
    expect(a.nic.addresses(IPV6_PROTOCOL_NUMBER).map((x) => x.address.toString())).toEqual([
      "fe80::ff:fe00:a",
    ]);
    expect(a.nic.hasAddress(a.linkLocal)).toBe(false);
    lan.run(3000);
    expect(a.nic.hasAddress(a.linkLocal)).toBe(true);
    const dad = lan.icmp(ICMPV6_NEIGHBOR_SOLICIT, "a");
    expect(dad.length).toBe(1);
    expect(dad[0]!.src.isUnspecified).toBe(true);
    expect(dad[0]!.dst.equals(solicitedNodeAddress(a.linkLocal))).toBe(true);
    expect(dad[0]!.hopLimit).toBe(255);
    // Ethernet multicast 33:33 + low 32 bits (RFC 2464 §7).
    expect(dad[0]!.linkDst!.toString()).toBe("33:33:ff:00:00:0a");
    // DAD NS carry no source link-layer address option (RFC 4861 §4.3), only a Nonce (RFC 7527).
    expect(dad[0]!.bytes.length).toBe(40 + 24 + 8);
    expect(dad[0]!.bytes[40 + 24]).toBe(14);
    expect(lan.a.stack.stats.icmp.v6.dadConflicts).toBe(0);
  });

  test("solicited-node groups are joined per address (reference counted) and left on removal", () => {
    const lan = twoHosts();
    const { a } = lan;
    const group = solicitedNodeAddress(a.linkLocal);
    expect(a.nic.isMemberOf(group)).toBe(true);
    // fd00::a shares the group (same low 24 bits).
    addGlobal(a, a6("fd00::a"));
    addGlobal(a, a6("fd00::1:2:3"));
    expect(a.nic.isMemberOf(solicitedNodeAddress(a6("fd00::1:2:3")))).toBe(true);
    a.stack.removeAddress(1, a6("fd00::1:2:3"));
    expect(a.nic.isMemberOf(solicitedNodeAddress(a6("fd00::1:2:3")))).toBe(false);
    a.stack.removeAddress(1, a6("fd00::a"));
    expect(a.nic.isMemberOf(group)).toBe(true);
    a.stack.disableNIC(1);
    expect(a.nic.isMemberOf(group)).toBe(false);
  });

  test("router solicitations: up to 3, 4 s apart, from the link-local address once assigned", () => {
    const lan = twoHosts();
    lan.run(20_000);
    const rs = lan.icmp(ICMPV6_ROUTER_SOLICIT, "a");
    expect(rs.length).toBe(3);
    expect(rs.every((f) => f.dst.equals(Address.ALL_ROUTERS_V6) && f.hopLimit === 255)).toBe(true);
    expect(rs[2]!.src.equals(lan.a.linkLocal)).toBe(true);
    expect(lan.a.stack.stats.icmp.v6.routerSolicit.sent).toBe(3);
  });
});

describe("ping6", () => {
  test("both ways over link-local addresses, resolving with NS/NA", () => {
    const lan = twoHosts();
    lan.run(3000);
    lan.frames.length = 0;
    ping(lan.a, lan.b.linkLocal, 1);
    const ns = lan.icmp(ICMPV6_NEIGHBOR_SOLICIT, "a");
    expect(ns.length).toBe(1);
    expect(ns[0]!.src.equals(lan.a.linkLocal)).toBe(true);
    expect(ns[0]!.dst.equals(solicitedNodeAddress(lan.b.linkLocal))).toBe(true);
    const na = lan.icmp(ICMPV6_NEIGHBOR_ADVERT, "b");
    expect(na.length).toBe(1);
    // Solicited and Override set (RFC 4861 §7.2.4).
    expect(na[0]!.bytes[na[0]!.upper + 4]! & 0x60).toBe(0x60);
    expect(lan.icmp(ICMPV6_ECHO_REQUEST, "a").length).toBe(1);
    const reply = lan.icmp(ICMPV6_ECHO_REPLY, "b");
    expect(reply.length).toBe(1);
    expect(reply[0]!.src.equals(lan.b.linkLocal)).toBe(true);
    expect(reply[0]!.dst.equals(lan.a.linkLocal)).toBe(true);
    expect(lan.a.stack.stats.icmp.v6.echoReply.received).toBe(1);
    // A learnt B from a solicited NA: REACHABLE; B learnt A from the NS: STALE (RFC 4861 §7.2.3).
    expect(lan.a.nic.neighbors(IPV6_PROTOCOL_NUMBER)!.entry(lan.b.linkLocal)!.state).toBe("reachable");
    expect(lan.b.nic.neighbors(IPV6_PROTOCOL_NUMBER)!.entry(lan.a.linkLocal)!.state).not.toBe("incomplete");

    ping(lan.b, lan.a.linkLocal, 2);
    expect(lan.b.stack.stats.icmp.v6.echoReply.received).toBe(1);
    expect(lan.a.stack.stats.icmp.v6.echoRequest.received).toBe(1);
  });

  test("both ways over fd00:: addresses", () => {
    const lan = twoHosts();
    addGlobal(lan.a, a6("fd00::a"));
    addGlobal(lan.b, a6("fd00::b"));
    lan.run(3000);
    ping(lan.a, a6("fd00::b"), 1, new Uint8Array(100).fill(7));
    ping(lan.b, a6("fd00::a"), 1);
    const replies = lan.icmp(ICMPV6_ECHO_REPLY);
    expect(replies.map((f) => `${f.src}>${f.dst}`)).toEqual(["fd00::b>fd00::a", "fd00::a>fd00::b"]);
    // The reply carries the request's data.
    expect(replies[0]!.bytes.length).toBe(40 + 8 + 100);
  });

  test("echo to ff02::1 is answered from a unicast address (RFC 4443 §4.2)", () => {
    const lan = twoHosts();
    lan.run(3000);
    ping(lan.a, Address.ALL_NODES_V6, 1);
    const reply = lan.icmp(ICMPV6_ECHO_REPLY, "b");
    expect(reply.length).toBe(1);
    expect(reply[0]!.src.equals(lan.b.linkLocal)).toBe(true);
  });
});

describe("packet hooks", () => {
  test("outbound hooks see every packet once; an inbound hook can drop", () => {
    const lan = twoHosts();
    let seen = 0;
    lan.a.stack.addHook("outbound", (proto) => {
      if (proto === IPV6_PROTOCOL_NUMBER) seen++;
    });
    // Only what is sent from here on (the first MLD report went out when the NIC came up).
    lan.frames.length = 0;
    lan.run(3000);
    ping(lan.a, lan.b.linkLocal, 1);
    expect(seen).toBe(lan.frames.filter((f) => f.from === "a").length);
    lan.b.stack.addHook("inbound", (_p, bytes) =>
      bytes[6] === 58 && bytes[40] === ICMPV6_ECHO_REQUEST ? "drop" : undefined,
    );
    ping(lan.a, lan.b.linkLocal, 2);
    expect(lan.icmp(ICMPV6_ECHO_REPLY).length).toBe(1);
  });
});

describe("addresses that must not come from a link", () => {
  test("loopback source or destination is dropped (RFC 4291 §2.5.3)", () => {
    const lan = twoHosts();
    addGlobal(lan.b, a6("fd00::b"));
    lan.run(3000);
    const st = lan.b.stack.stats.ip;
    const before = st.invalidAddressesReceived;
    inject(
      lan.b,
      buildIpv6({ src: Address.LOOPBACK_V6, dst: a6("fd00::b"), proto: 58, payload: new Uint8Array(8) }),
    );
    inject(
      lan.b,
      buildIpv6({ src: a6("fd00::a"), dst: Address.LOOPBACK_V6, proto: 58, payload: new Uint8Array(8) }),
    );
    expect(st.invalidAddressesReceived - before).toBe(2);
  });

  test("packets for someone else are dropped unless promiscuous", () => {
    const lan = twoHosts();
    lan.run(3000);
    const seen = lan.b.listen(7);
    const pkt = buildIpv6({
      src: a6("fd00::a"),
      dst: a6("fd00::77"),
      proto: 17,
      payload: udpPayload(7, Uint8Array.of(1)),
    });
    inject(lan.b, pkt, MAC_A);
    expect(seen.packets.length).toBe(0);
    lan.b.stack.setPromiscuousMode(1, true);
    inject(lan.b, pkt, MAC_A);
    expect(seen.packets.length).toBe(1);
  });
});

describe("neighbour resolution failure", () => {
  test("3 solicitations 1 s apart, then the packets are dropped and the sender told", () => {
    const lan = twoHosts();
    addGlobal(lan.a, a6("fd00::a"));
    lan.run(3000);
    lan.frames.length = 0;
    const seen = lan.a.listen(1000);
    sendUdp(lan.a, a6("fd00::99"), 9, new Uint8Array(4));
    lan.run(5000);
    const ns = lan.icmp(ICMPV6_NEIGHBOR_SOLICIT, "a");
    expect(ns.length).toBe(3);
    expect(ns.every((f) => f.dst.equals(solicitedNodeAddress(a6("fd00::99"))))).toBe(true);
    expect(lan.a.nic.neighbors(IPV6_PROTOCOL_NUMBER)!.entry(a6("fd00::99"))!.state).toBe("failed");
    expect(seen.controls).toEqual([{ type: "linkAddressUnresolved", extra: 0, remote: a6("fd00::99") }]);
    expect(lan.a.stack.stats.ip.outgoingPacketErrors).toBe(1);
  });
});

describe("ICMPv6 errors", () => {
  test("port unreachable (code 4) for a closed port, not for multicast", () => {
    const lan = twoHosts();
    addGlobal(lan.a, a6("fd00::a"));
    addGlobal(lan.b, a6("fd00::b"));
    lan.run(3000);
    const seen = lan.a.listen(1000);
    sendUdp(lan.a, a6("fd00::b"), 9, new Uint8Array(4));
    const err = lan.icmp(ICMPV6_DST_UNREACHABLE, "b");
    expect(err.length).toBe(1);
    expect(err[0]!.icmpCode).toBe(4);
    // The quote starts with the invoking packet's IPv6 header (RFC 4443 §3.1).
    const quote = err[0]!.bytes.subarray(err[0]!.upper + 8);
    expect(Address.fromBytes(quote, 8, 16).toString()).toBe("fd00::a");
    expect(Address.fromBytes(quote, 24, 16).toString()).toBe("fd00::b");
    expect(seen.controls).toEqual([{ type: "portUnreachable", extra: 0, remote: a6("fd00::b") }]);
    sendUdp(lan.a, Address.ALL_NODES_V6, 9, new Uint8Array(4));
    expect(lan.icmp(ICMPV6_DST_UNREACHABLE, "b").length).toBe(1);
  });

  test("errors are rate limited by a token bucket (burst 50)", () => {
    const lan = twoHosts();
    addGlobal(lan.a, a6("fd00::a"));
    addGlobal(lan.b, a6("fd00::b"));
    lan.run(3000);
    for (let i = 0; i < 80; i++) sendUdp(lan.a, a6("fd00::b"), 9, new Uint8Array(4));
    expect(lan.icmp(ICMPV6_DST_UNREACHABLE, "b").length).toBe(50);
    expect(lan.b.stack.stats.icmp.v6.rateLimited).toBe(30);
    lan.clock.advance(1000);
    sendUdp(lan.a, a6("fd00::b"), 9, new Uint8Array(4));
    expect(lan.icmp(ICMPV6_DST_UNREACHABLE, "b").length).toBe(51);
  });
});

describe("path MTU cache (RFC 8201)", () => {
  test("Packet Too Big about ever-new destinations keeps a bounded cache, oldest out first", () => {
    const lan = twoHosts();
    lan.run(3_000);
    const proto = lan.a.ep.proto;
    const dst = (i: number) => a6(`fd00:77::${(i >>> 16).toString(16)}:${(i & 0xffff).toString(16)}`);
    const timersBefore = lan.clock.pendingTimers;
    // Anyone on the path can forge a Packet Too Big quoting any destination we might have sent to.
    for (let i = 0; i < MAX_PATH_MTU_ENTRIES + 100; i++) proto.updatePathMtu(dst(i), 1280, 1500);
    expect(proto.pathMtu(dst(0))).toBeUndefined();
    expect(proto.pathMtu(dst(99))).toBeUndefined();
    expect(proto.pathMtu(dst(100))).toBe(1280);
    expect(proto.pathMtu(dst(MAX_PATH_MTU_ENTRIES + 99))).toBe(1280);
    expect(lan.clock.pendingTimers - timersBefore).toBe(MAX_PATH_MTU_ENTRIES);
    // A refreshed entry is the newest again.
    proto.updatePathMtu(dst(100), 1300, 1500);
    proto.updatePathMtu(dst(MAX_PATH_MTU_ENTRIES + 100), 1280, 1500);
    expect(proto.pathMtu(dst(100))).toBe(1280);
    expect(proto.pathMtu(dst(101))).toBeUndefined();
  });
});
