import { describe, expect, test } from "bun:test";
import { PacketBuffer } from "../buffer/packet-buffer.ts";
import { ChannelEndpoint } from "../link/channel/channel.ts";
import type { Address } from "../tcpip/address.ts";
import { ManualClock } from "../tcpip/clock.ts";
import {
  ErrBadLocalAddress,
  ErrConnectionRefused,
  ErrDuplicateAddress,
  ErrDuplicateNICID,
  ErrNoRoute,
  ErrPortInUse,
  ErrUnknownNICID,
  ErrUnknownProtocol,
  ErrWouldBlock,
} from "../tcpip/errors.ts";
import {
  ICMPV4_PROTOCOL_NUMBER,
  IPV4_PROTOCOL_NUMBER,
  IPV6_PROTOCOL_NUMBER,
  UDP_PROTOCOL_NUMBER,
} from "../tcpip/protocols.ts";
import { SeededRandom } from "../tcpip/random.ts";
import { Subnet } from "../tcpip/subnet.ts";
import { addr, echoRequest, endpoint, newTestStack } from "../transport/udp/testing.ts";
import type { NetworkEndpoint, NetworkProtocol, NicContext } from "./registration.ts";
import { addressScope, selectSourceAddress } from "./source-address.ts";
import { Stack } from "./stack.ts";

/** A stand-in IPv6 protocol (the real one lives in src/network/ipv6): addresses and routes only. */
function fakeIpv6(): (s: unknown) => NetworkProtocol {
  return () => ({
    number: IPV6_PROTOCOL_NUMBER,
    name: "ipv6-fake",
    addressLength: 16,
    minimumPacketSize: 40,
    newEndpoint(_nic: NicContext): NetworkEndpoint {
      return { protocol: IPV6_PROTOCOL_NUMBER, maxHeaderLength: 40, handlePacket() {}, writePacket() {} };
    },
    parseAddresses: () => undefined,
  });
}

function stackWithNics(n: number) {
  const clock = new ManualClock();
  const s = newTestStack(clock, 5, {});
  const links: ChannelEndpoint[] = [];
  for (let i = 1; i <= n; i++) {
    const ch = new ChannelEndpoint({ mtu: 1500 });
    links.push(ch);
    s.createNIC(i, ch);
  }
  return { s, links, clock };
}

describe("NICs and addresses", () => {
  test("create, duplicate, remove, enable and disable", () => {
    const { s, links } = stackWithNics(1);
    expect(() => s.createNIC(1, new ChannelEndpoint({ mtu: 1500 }))).toThrow(ErrDuplicateNICID);
    expect(() => s.removeNIC(9)).toThrow(ErrUnknownNICID);
    s.addAddress(1, IPV4_PROTOCOL_NUMBER, addr("198.18.0.1"), 24);
    expect(() => s.addAddress(1, IPV4_PROTOCOL_NUMBER, addr("198.18.0.1"), 24)).toThrow(ErrDuplicateAddress);
    expect(() => s.addAddress(1, 0x1234, addr("198.18.0.1"))).toThrow(ErrUnknownProtocol);
    expect(s.addresses(1).map((a) => `${a.address}/${a.prefixLen}`)).toEqual(["198.18.0.1/24"]);
    s.disableNIC(1);
    links[0]!.injectInbound(IPV4_PROTOCOL_NUMBER, new Uint8Array(40));
    expect(s.nicStats(1).droppedPackets).toBe(1);
    s.enableNIC(1);
    s.removeAddress(1, addr("198.18.0.1"));
    expect(() => s.removeAddress(1, addr("198.18.0.1"))).toThrow(ErrBadLocalAddress);
    s.removeNIC(1);
    expect(links[0]!.isAttached()).toBe(false);
    expect(s.nicInfo()).toEqual([]);
  });

  test("NIC names are unique and looked up", () => {
    const s = new Stack({ networkProtocols: [], clock: new ManualClock(), random: new SeededRandom(1) });
    s.createNIC(1, new ChannelEndpoint({ mtu: 1500 }), { name: "tun0" });
    expect(() => s.createNIC(2, new ChannelEndpoint({ mtu: 1500 }), { name: "tun0" })).toThrow(
      ErrDuplicateNICID,
    );
    s.createNIC(2, new ChannelEndpoint({ mtu: 1500 }), { disabled: true });
    expect(s.nicByName("tun0")).toBe(1);
    expect(s.nicInfo().map((n) => [n.name, n.enabled])).toEqual([
      ["tun0", true],
      ["nic2", false],
    ]);
  });
});

describe("route table: longest prefix, then metric", () => {
  function routed() {
    const { s } = stackWithNics(4);
    for (let i = 1; i <= 4; i++) s.addAddress(i, IPV4_PROTOCOL_NUMBER, addr(`198.18.${i}.1`), 24);
    s.setRouteTable([
      { destination: Subnet.parse("0.0.0.0/0"), gateway: addr("198.18.1.254"), nic: 1 },
      { destination: Subnet.parse("198.18.0.0/15"), nic: 2 },
      { destination: Subnet.parse("198.18.5.0/24"), nic: 3, metric: 10 },
      { destination: Subnet.parse("198.18.5.0/24"), nic: 4, metric: 5 },
    ]);
    return s;
  }

  test("the longest matching prefix wins; among equal prefixes the lowest metric", () => {
    const s = routed();
    const r1 = s.findRoute(0, undefined, addr("198.18.5.9"), IPV4_PROTOCOL_NUMBER);
    expect(r1.nic).toBe(4);
    expect(r1.localAddress.toString()).toBe("198.18.4.1");
    expect(r1.nextHop.toString()).toBe("198.18.5.9");
    expect(s.findRoute(0, undefined, addr("198.19.0.1"), IPV4_PROTOCOL_NUMBER).nic).toBe(2);
    const def = s.findRoute(0, undefined, addr("198.20.0.1"), IPV4_PROTOCOL_NUMBER);
    expect(def.nic).toBe(1);
    expect(def.nextHop.toString()).toBe("198.18.1.254");
  });

  test("a disabled NIC's routes are skipped; a NIC restriction is honoured", () => {
    const s = routed();
    s.disableNIC(4);
    expect(s.findRoute(0, undefined, addr("198.18.5.9"), IPV4_PROTOCOL_NUMBER).nic).toBe(3);
    expect(s.findRoute(2, undefined, addr("198.18.5.9"), IPV4_PROTOCOL_NUMBER).nic).toBe(2);
    expect(() => s.findRoute(9, undefined, addr("198.18.5.9"), IPV4_PROTOCOL_NUMBER)).toThrow(
      ErrUnknownNICID,
    );
  });

  test("add, remove and list keep lookup order", () => {
    const s = routed();
    expect(s.removeRoute({ destination: Subnet.parse("198.18.5.0/24"), nic: 4, metric: 5 })).toBe(1);
    expect(s.findRoute(0, undefined, addr("198.18.5.9"), IPV4_PROTOCOL_NUMBER).nic).toBe(3);
    s.addRoute({ destination: Subnet.parse("198.18.5.128/25"), nic: 4 });
    expect(s.getRouteTable().map((r) => `${r.destination}@${r.nic}`)).toEqual([
      "198.18.5.128/25@4",
      "198.18.5.0/24@3",
      "198.18.0.0/15@2",
      "0.0.0.0/0@1",
    ]);
    s.setRouteTable([]);
    expect(() => s.findRoute(0, undefined, addr("198.18.5.9"), IPV4_PROTOCOL_NUMBER)).toThrow(ErrNoRoute);
  });

  test("a given local address must be ours unless spoofing", () => {
    const s = routed();
    expect(() => s.findRoute(3, addr("198.18.200.1"), addr("198.18.5.9"), IPV4_PROTOCOL_NUMBER)).toThrow(
      ErrNoRoute,
    );
    s.setSpoofing(3, true);
    expect(
      s.findRoute(3, addr("198.18.200.1"), addr("198.18.5.9"), IPV4_PROTOCOL_NUMBER).localAddress.toString(),
    ).toBe("198.18.200.1");
  });
});

describe("source address selection", () => {
  const c = (text: string, prefixLen: number, extra: { deprecated?: boolean; tentative?: boolean } = {}) => ({
    address: addr(text),
    prefixLen,
    ...extra,
  });

  test("RFC 6724: same address, scope, deprecated, longest prefix", () => {
    const cands = [c("fe80::1", 64), c("fd00:1::1", 64), c("fd00:2::1", 64)];
    expect(selectSourceAddress(cands, addr("fd00:2::1"))?.toString()).toBe("fd00:2::1");
    expect(selectSourceAddress(cands, addr("fe80::9"))?.toString()).toBe("fe80::1");
    expect(selectSourceAddress(cands, addr("fd00:2::99"))?.toString()).toBe("fd00:2::1");
    expect(
      selectSourceAddress(
        [c("fd00:2::1", 64, { deprecated: true }), c("fd00:1::1", 64)],
        addr("fd00:2::9"),
      )?.toString(),
    ).toBe("fd00:1::1");
    expect(selectSourceAddress([c("fd00:2::1", 64, { tentative: true })], addr("fd00:2::9"))).toBeUndefined();
    expect(addressScope(addr("ff02::1"))).toBe(2);
    expect(addressScope(addr("fd00::1"))).toBe(14);
  });

  test("IPv4 prefers the address whose subnet holds the destination", () => {
    const cands = [c("198.18.1.1", 24), c("198.18.2.1", 24)];
    expect(selectSourceAddress(cands, addr("198.18.2.77"))?.toString()).toBe("198.18.2.1");
    expect(selectSourceAddress(cands, addr("198.19.0.1"))?.toString()).toBe("198.18.1.1");
  });
});

describe("transport demux", () => {
  function pair() {
    const { s, links } = stackWithNics(1);
    s.addAddress(1, IPV4_PROTOCOL_NUMBER, addr("198.18.0.1"), 24);
    s.addRoute({ destination: Subnet.parse("198.18.0.0/24"), nic: 1 });
    const inject = (src: string, srcPort: number, dstPort: number, dst = "198.18.0.1") => {
      const pkt = rawUdp(addr(src), addr(dst), srcPort, dstPort, Uint8Array.of(srcPort & 0xff));
      links[0]!.injectInbound(IPV4_PROTOCOL_NUMBER, PacketBuffer.wrap(pkt));
    };
    return { s, inject, links };
  }

  test("exact 4-tuple before bound address before wildcard", () => {
    const { s, inject } = pair();
    const w2 = endpoint(s, UDP_PROTOCOL_NUMBER);
    w2.ep.bind({ port: 53 });
    const conn = endpoint(s, UDP_PROTOCOL_NUMBER);
    conn.ep.bind({ addr: addr("198.18.0.1"), port: 54 });
    conn.ep.connect({ addr: addr("198.18.0.9"), port: 1000 });
    const onAddr = endpoint(s, UDP_PROTOCOL_NUMBER);
    expect(() => onAddr.ep.bind({ addr: addr("198.18.0.1"), port: 53 })).toThrow(ErrPortInUse);
    inject("198.18.0.9", 1000, 54);
    inject("198.18.0.8", 1000, 54);
    inject("198.18.0.9", 1000, 53);
    expect(conn.ep.read().from?.addr?.toString()).toBe("198.18.0.9");
    expect(() => conn.ep.read()).toThrow(ErrWouldBlock);
    expect(w2.ep.read().from?.addr?.toString()).toBe("198.18.0.9");
    expect(s.stats.udp.unknownPortErrors).toBe(1);
  });

  test("ReusePort spreads flows by a hash of the 4-tuple; a flow always reaches the same endpoint", () => {
    const { s, inject } = pair();
    const eps = [0, 1, 2, 3].map(() => {
      const e = endpoint(s, UDP_PROTOCOL_NUMBER);
      e.ep.setSockOpt("ReusePort", true);
      e.ep.bind({ port: 99 });
      return e;
    });
    const other = endpoint(s, UDP_PROTOCOL_NUMBER);
    expect(() => other.ep.bind({ port: 99 })).toThrow(ErrPortInUse);
    for (let i = 0; i < 64; i++) inject(`198.18.0.${10 + i}`, 2000 + i, 99);
    const counts = eps.map((e) => {
      let n = 0;
      for (;;) {
        try {
          e.ep.read();
          n++;
        } catch {
          return n;
        }
      }
    });
    expect(counts.reduce((x, y) => x + y, 0)).toBe(64);
    expect(counts.filter((n) => n > 0).length).toBeGreaterThan(1);
    // The same flow twice lands on one endpoint.
    inject("198.18.0.10", 2000, 99);
    inject("198.18.0.10", 2000, 99);
    const got = eps.map((e) => e.ep.getSockOpt("ReceiveQueueSize") as number);
    expect(got.filter((n) => n > 0).length).toBe(1);
  });

  test("broadcast reaches every endpoint on the port with ReuseAddress", () => {
    const { s, inject } = pair();
    const eps = [0, 1].map(() => {
      const e = endpoint(s, UDP_PROTOCOL_NUMBER);
      e.ep.setSockOpt("ReuseAddress", true);
      e.ep.bind({ port: 67 });
      return e;
    });
    inject("198.18.0.9", 68, 67, "255.255.255.255");
    for (const e of eps) expect(e.ep.read().data.length).toBe(1);
  });

  test("a directed broadcast reaches every endpoint on the port, in the old all-zeros form too (RFC 1122 §3.3.6)", () => {
    const { s, inject } = pair();
    const eps = [0, 1].map(() => {
      const e = endpoint(s, UDP_PROTOCOL_NUMBER);
      e.ep.setSockOpt("ReuseAddress", true);
      e.ep.bind({ port: 67 });
      return e;
    });
    for (const dst of ["198.18.0.255", "198.18.0.0"]) {
      inject("198.18.0.9", 68, 67, dst);
      for (const e of eps) expect(e.ep.read().data.length).toBe(1);
    }
  });

  test("dual-stack: an IPv6 endpoint on :: receives IPv4 as mapped addresses unless V6Only", () => {
    const clock = new ManualClock();
    const s = newTestStack(clock, 9, {});
    const opts = s as unknown as { netProtos: Map<number, NetworkProtocol> };
    opts.netProtos.set(IPV6_PROTOCOL_NUMBER, fakeIpv6()(s));
    const ch = new ChannelEndpoint({ mtu: 1500 });
    s.createNIC(1, ch);
    s.addAddress(1, IPV4_PROTOCOL_NUMBER, addr("198.18.0.1"), 24);
    s.addRoute({ destination: Subnet.parse("198.18.0.0/24"), nic: 1 });
    const dual = endpoint(s, UDP_PROTOCOL_NUMBER, IPV6_PROTOCOL_NUMBER);
    dual.ep.bind({ port: 53 });
    ch.injectInbound(
      IPV4_PROTOCOL_NUMBER,
      rawUdp(addr("198.18.0.9"), addr("198.18.0.1"), 1000, 53, Uint8Array.of(7)),
    );
    const got = dual.ep.read();
    expect(got.from?.addr?.toString()).toBe("::ffff:198.18.0.9");
    // Replies to the mapped address go out as IPv4.
    dual.ep.write(Uint8Array.of(8), { to: got.from! });
    const out = ch.readAll();
    expect(out.length).toBe(1);
    expect(out[0]!.pkt.bytes()[0]! >> 4).toBe(4);
    const v6only = endpoint(s, UDP_PROTOCOL_NUMBER, IPV6_PROTOCOL_NUMBER);
    v6only.ep.setSockOpt("V6Only", true);
    v6only.ep.bind({ port: 54 });
    ch.injectInbound(
      IPV4_PROTOCOL_NUMBER,
      rawUdp(addr("198.18.0.9"), addr("198.18.0.1"), 1000, 54, Uint8Array.of(7)),
    );
    expect(() => v6only.ep.read()).toThrow(ErrWouldBlock);
    // An IPv6 endpoint bound to an IPv4-mapped address is an IPv4 endpoint.
    const mapped = endpoint(s, UDP_PROTOCOL_NUMBER, IPV6_PROTOCOL_NUMBER);
    mapped.ep.bind({ addr: addr("::ffff:198.18.0.1"), port: 55 });
    ch.injectInbound(
      IPV4_PROTOCOL_NUMBER,
      rawUdp(addr("198.18.0.9"), addr("198.18.0.1"), 1000, 55, Uint8Array.of(7)),
    );
    expect(mapped.ep.getLocalAddress().addr?.toString()).toBe("::ffff:198.18.0.1");
    expect(mapped.ep.read().data[0]).toBe(7);
  });
});

describe("hooks, promiscuous and spoofing", () => {
  function host() {
    const { s, links } = stackWithNics(1);
    s.addAddress(1, IPV4_PROTOCOL_NUMBER, addr("198.18.0.1"), 24);
    s.addRoute({ destination: Subnet.parse("198.18.0.0/24"), nic: 1 });
    return { s, ch: links[0]! };
  }

  test("an inbound hook sees packets and can drop them; the remover works", () => {
    const { s, ch } = host();
    const seen: number[] = [];
    const remove = s.addHook("inbound", (proto, bytes) => {
      seen.push(proto, bytes.length);
      return "drop";
    });
    const out: number[] = [];
    s.addHook("outbound", (_p, bytes) => {
      out.push(bytes[9]!);
    });
    const ping = rawEcho(addr("198.18.0.9"), addr("198.18.0.1"));
    ch.injectInbound(IPV4_PROTOCOL_NUMBER, ping.slice());
    expect(seen).toEqual([IPV4_PROTOCOL_NUMBER, ping.length]);
    expect(ch.readAll().length).toBe(0);
    remove();
    ch.injectInbound(IPV4_PROTOCOL_NUMBER, ping.slice());
    expect(ch.readAll().length).toBe(1);
    expect(out).toEqual([ICMPV4_PROTOCOL_NUMBER]);
  });

  test("promiscuous mode accepts packets for any address", () => {
    const { s, ch } = host();
    const e = endpoint(s, UDP_PROTOCOL_NUMBER);
    e.ep.bind({ port: 5 });
    const pkt = () => rawUdp(addr("198.18.0.9"), addr("198.18.0.200"), 1, 5, Uint8Array.of(1));
    ch.injectInbound(IPV4_PROTOCOL_NUMBER, pkt());
    expect(() => e.ep.read()).toThrow(ErrWouldBlock);
    s.setPromiscuousMode(1, true);
    ch.injectInbound(IPV4_PROTOCOL_NUMBER, pkt());
    expect(e.ep.read().data[0]).toBe(1);
  });

  test("ICMP port unreachable over the loopback path refuses a connected endpoint", () => {
    const { s } = host();
    const e = endpoint(s, UDP_PROTOCOL_NUMBER);
    e.ep.connect({ addr: addr("198.18.0.1"), port: 4444 });
    e.ep.write(Uint8Array.of(1));
    expect(() => e.ep.read()).toThrow(ErrConnectionRefused);
  });

  test("ping to our own address is answered locally", () => {
    const { s, ch } = host();
    const p = endpoint(s, ICMPV4_PROTOCOL_NUMBER);
    p.ep.bind({ port: 3 });
    p.ep.write(echoRequest(1), { to: { addr: addr("198.18.0.1"), port: 0 } });
    expect(p.ep.read().data[0]).toBe(0);
    expect(ch.readAll().length).toBe(0);
  });
});

function rawUdp(src: Address, dst: Address, srcPort: number, dstPort: number, data: Uint8Array): Uint8Array {
  const b = new Uint8Array(28 + data.length);
  b[0] = 0x45;
  b[2] = b.length >> 8;
  b[3] = b.length & 0xff;
  b[8] = 64;
  b[9] = 17;
  b.set(src.bytes, 12);
  b.set(dst.bytes, 16);
  ipChecksum(b);
  b[20] = srcPort >> 8;
  b[21] = srcPort & 0xff;
  b[22] = dstPort >> 8;
  b[23] = dstPort & 0xff;
  b[24] = (8 + data.length) >> 8;
  b[25] = (8 + data.length) & 0xff;
  b.set(data, 28);
  return b;
}

function rawEcho(src: Address, dst: Address): Uint8Array {
  const b = new Uint8Array(28);
  b[0] = 0x45;
  b[3] = 28;
  b[8] = 64;
  b[9] = 1;
  b.set(src.bytes, 12);
  b.set(dst.bytes, 16);
  ipChecksum(b);
  b[20] = 8;
  let sum = 0;
  for (let i = 20; i < 28; i += 2) sum += (b[i]! << 8) | b[i + 1]!;
  sum = (sum & 0xffff) + (sum >>> 16);
  const c = ~sum & 0xffff;
  b[22] = c >> 8;
  b[23] = c & 0xff;
  return b;
}

function ipChecksum(b: Uint8Array): void {
  let sum = 0;
  for (let i = 0; i < 20; i += 2) sum += (b[i]! << 8) | b[i + 1]!;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  const c = ~sum & 0xffff;
  b[10] = c >> 8;
  b[11] = c & 0xff;
}
