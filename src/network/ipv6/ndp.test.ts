import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { writeU16, writeU32 } from "../../header/bytes.ts";
import {
  ICMPV6_ECHO_REPLY,
  ICMPV6_NEIGHBOR_ADVERT,
  ICMPV6_NEIGHBOR_SOLICIT,
  ICMPV6_ROUTER_ADVERT,
  ICMPV6_ROUTER_SOLICIT,
  NDP_NA_OVERRIDE,
  NDP_NA_ROUTER,
  NDP_NA_SOLICITED,
} from "../../header/icmpv6.ts";
import { solicitedNodeAddress } from "../../header/ipv6.ts";
import { Address } from "../../tcpip/address.ts";
import { LinkAddress } from "../../tcpip/link-address.ts";
import { ICMPV6_PROTOCOL_NUMBER, IPV6_PROTOCOL_NUMBER } from "../../tcpip/protocols.ts";
import { Subnet } from "../../tcpip/subnet.ts";
import { a6, addGlobal, buildIpv6, icmpv6, inject, MAC_R, ping, twoHosts } from "./_harness.ts";

const ROUTER_LL = a6("fe80::1");

function llaOption(type: number, mac: LinkAddress): Uint8Array {
  const o = new Uint8Array(8);
  o[0] = type;
  o[1] = 1;
  o.set(mac.bytes, 2);
  return o;
}

/** A Neighbor Advertisement body (after type/code/checksum). */
function naBody(target: Address, flags: number, tlla?: LinkAddress): Uint8Array {
  const b = new Uint8Array(20 + (tlla ? 8 : 0));
  b[0] = flags;
  b.set(target.bytes, 4);
  if (tlla) b.set(llaOption(2, tlla), 20);
  return b;
}

function nsBody(target: Address, slla?: LinkAddress): Uint8Array {
  const b = new Uint8Array(20 + (slla ? 8 : 0));
  b.set(target.bytes, 4);
  if (slla) b.set(llaOption(1, slla), 20);
  return b;
}

interface Prefix {
  prefix: string;
  len?: number;
  flags?: number;
  valid: number;
  preferred: number;
}

function raBody(opts: {
  hopLimit?: number;
  lifetime: number;
  reachable?: number;
  retrans?: number;
  mtu?: number;
  prefixes?: Prefix[];
  slla?: LinkAddress;
}): Uint8Array {
  const parts: Uint8Array[] = [];
  const fixed = new Uint8Array(12);
  fixed[0] = opts.hopLimit ?? 0;
  writeU16(fixed, 2, opts.lifetime);
  writeU32(fixed, 4, opts.reachable ?? 0);
  writeU32(fixed, 8, opts.retrans ?? 0);
  parts.push(fixed);
  if (opts.slla) parts.push(llaOption(1, opts.slla));
  if (opts.mtu !== undefined) {
    const m = new Uint8Array(8);
    m[0] = 5;
    m[1] = 1;
    writeU32(m, 4, opts.mtu);
    parts.push(m);
  }
  for (const p of opts.prefixes ?? []) {
    const o = new Uint8Array(32);
    o[0] = 3;
    o[1] = 4;
    o[2] = p.len ?? 64;
    o[3] = p.flags ?? 0xc0;
    writeU32(o, 4, p.valid);
    writeU32(o, 8, p.preferred);
    o.set(a6(p.prefix).bytes, 16);
    parts.push(o);
  }
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

function ndp(
  src: Address,
  dst: Address,
  type: number,
  body: Uint8Array,
  hopLimit = 255,
  code = 0,
): Uint8Array {
  return buildIpv6({
    src,
    dst,
    hopLimit,
    proto: ICMPV6_PROTOCOL_NUMBER,
    payload: icmpv6(src, dst, type, code, body),
  });
}

describe("Neighbor Advertisement handling (RFC 4861 §7.2.5)", () => {
  function resolved() {
    const lan = twoHosts();
    lan.run(3000);
    ping(lan.a, lan.b.linkLocal);
    const cache = lan.a.nic.neighbors(IPV6_PROTOCOL_NUMBER)!;
    expect(cache.entry(lan.b.linkLocal)!.state).toBe("reachable");
    return { lan, cache };
  }
  const OTHER = new LinkAddress(Uint8Array.of(2, 0, 0, 0, 0, 0xee));

  test("unsolicited with Override and a new address: updated, STALE", () => {
    const { lan, cache } = resolved();
    inject(
      lan.a,
      ndp(
        lan.b.linkLocal,
        Address.ALL_NODES_V6,
        ICMPV6_NEIGHBOR_ADVERT,
        naBody(lan.b.linkLocal, NDP_NA_OVERRIDE, OTHER),
      ),
    );
    const e = cache.entry(lan.b.linkLocal)!;
    expect(e.state).toBe("stale");
    expect(e.linkAddress!.equals(OTHER)).toBe(true);
  });

  test("without Override and a different address: REACHABLE becomes STALE, address kept", () => {
    const { lan, cache } = resolved();
    inject(
      lan.a,
      ndp(
        lan.b.linkLocal,
        lan.a.linkLocal,
        ICMPV6_NEIGHBOR_ADVERT,
        naBody(lan.b.linkLocal, NDP_NA_SOLICITED, OTHER),
      ),
    );
    const e = cache.entry(lan.b.linkLocal)!;
    expect(e.state).toBe("stale");
    expect(e.linkAddress!.equals(lan.b.mac)).toBe(true);
  });

  test("Router flag is recorded", () => {
    const { lan, cache } = resolved();
    inject(
      lan.a,
      ndp(
        lan.b.linkLocal,
        lan.a.linkLocal,
        ICMPV6_NEIGHBOR_ADVERT,
        naBody(lan.b.linkLocal, NDP_NA_SOLICITED | NDP_NA_OVERRIDE | NDP_NA_ROUTER, lan.b.mac),
      ),
    );
    expect(cache.entry(lan.b.linkLocal)!.isRouter).toBe(true);
    expect(cache.entry(lan.b.linkLocal)!.state).toBe("reachable");
  });

  test("invalid advertisements are dropped: hop limit, code, multicast target, S to multicast, zero-length option", () => {
    const { lan, cache } = resolved();
    const before = lan.a.stack.stats.icmp.v6.malformedReceived;
    const t = lan.b.linkLocal;
    const bad = [
      ndp(t, Address.ALL_NODES_V6, ICMPV6_NEIGHBOR_ADVERT, naBody(t, NDP_NA_OVERRIDE, OTHER), 254),
      ndp(t, Address.ALL_NODES_V6, ICMPV6_NEIGHBOR_ADVERT, naBody(t, NDP_NA_OVERRIDE, OTHER), 255, 1),
      ndp(
        t,
        Address.ALL_NODES_V6,
        ICMPV6_NEIGHBOR_ADVERT,
        naBody(Address.ALL_NODES_V6, NDP_NA_OVERRIDE, OTHER),
      ),
      ndp(
        t,
        Address.ALL_NODES_V6,
        ICMPV6_NEIGHBOR_ADVERT,
        naBody(t, NDP_NA_OVERRIDE | NDP_NA_SOLICITED, OTHER),
      ),
      ndp(
        t,
        Address.ALL_NODES_V6,
        ICMPV6_NEIGHBOR_ADVERT,
        (() => {
          const b = naBody(t, NDP_NA_OVERRIDE, OTHER);
          b[21] = 0;
          return b;
        })(),
      ),
      ndp(t, Address.ALL_NODES_V6, ICMPV6_NEIGHBOR_ADVERT, new Uint8Array(10)),
    ];
    for (const p of bad) inject(lan.a, p);
    expect(lan.a.stack.stats.icmp.v6.malformedReceived - before).toBe(bad.length);
    expect(cache.entry(lan.b.linkLocal)!.linkAddress!.equals(lan.b.mac)).toBe(true);
  });
});

describe("reachability through the shared neighbour cache (RFC 4861 §7.3.3)", () => {
  function reachable() {
    const lan = twoHosts();
    lan.run(3000);
    ping(lan.a, lan.b.linkLocal);
    const cache = lan.a.nic.neighbors(IPV6_PROTOCOL_NUMBER)!;
    // ReachableTime is at most 1.5 × 30 s; then the entry is STALE.
    lan.clock.advance(46_000);
    expect(cache.entry(lan.b.linkLocal)!.state).toBe("stale");
    lan.frames.length = 0;
    return { lan, cache };
  }

  test("STALE → DELAY → PROBE with a unicast solicitation → REACHABLE on a solicited advertisement", () => {
    const { lan, cache } = reachable();
    ping(lan.a, lan.b.linkLocal, 2);
    expect(cache.entry(lan.b.linkLocal)!.state).toBe("delay");
    lan.run(5000);
    const probe = lan.icmp(ICMPV6_NEIGHBOR_SOLICIT, "a");
    expect(probe.length).toBe(1);
    // A unicast probe: to the target itself and its known MAC, with our link address option.
    expect(probe[0]!.dst.equals(lan.b.linkLocal)).toBe(true);
    expect(probe[0]!.linkDst!.equals(lan.b.mac)).toBe(true);
    expect(probe[0]!.bytes.length).toBe(40 + 24 + 8);
    expect(cache.entry(lan.b.linkLocal)!.state).toBe("reachable");
  });

  test("PROBE without answers: 3 unicast solicitations, then the entry is gone", () => {
    const { lan, cache } = reachable();
    lan.drop = (f) => f.from === "b";
    ping(lan.a, lan.b.linkLocal, 2);
    lan.run(5000 + 3500);
    const probes = lan.icmp(ICMPV6_NEIGHBOR_SOLICIT, "a");
    expect(probes.length).toBe(3);
    expect(probes.every((f) => f.dst.equals(lan.b.linkLocal))).toBe(true);
    expect(cache.entry(lan.b.linkLocal)?.state ?? "none").not.toBe("probe");
  });
});

describe("Neighbor Solicitation handling (RFC 4861 §7.2.3, §7.2.4)", () => {
  test("a solicitation with a source link address creates a STALE entry and gets a unicast solicited NA", () => {
    const lan = twoHosts();
    lan.run(3000);
    lan.frames.length = 0;
    const peer = a6("fe80::99");
    const peerMac = new LinkAddress(Uint8Array.of(2, 0, 0, 0, 0, 0x99));
    inject(
      lan.a,
      ndp(
        peer,
        solicitedNodeAddress(lan.a.linkLocal),
        ICMPV6_NEIGHBOR_SOLICIT,
        nsBody(lan.a.linkLocal, peerMac),
      ),
      peerMac,
    );
    const e = lan.a.nic.neighbors(IPV6_PROTOCOL_NUMBER)!.entry(peer)!;
    expect(e.state).toBe("stale");
    const na = lan.icmp(ICMPV6_NEIGHBOR_ADVERT, "a");
    // The NA went straight to the solicitor's MAC from its source link-layer address option.
    expect(na.length).toBe(1);
    expect(na[0]!.linkDst!.equals(peerMac)).toBe(true);
    expect(na[0]!.dst.equals(peer)).toBe(true);
    expect(na[0]!.bytes[na[0]!.upper + 4]! & 0xe0).toBe(NDP_NA_SOLICITED | NDP_NA_OVERRIDE);
  });

  test("a DAD probe for our address is answered to all-nodes with S clear", () => {
    const lan = twoHosts();
    lan.run(3000);
    inject(
      lan.a,
      ndp(
        Address.ANY_V6,
        solicitedNodeAddress(lan.a.linkLocal),
        ICMPV6_NEIGHBOR_SOLICIT,
        nsBody(lan.a.linkLocal),
      ),
    );
    const out = lan.icmp(ICMPV6_NEIGHBOR_ADVERT, "a");
    expect(out.length).toBe(1);
    expect(out[0]!.dst.equals(Address.ALL_NODES_V6)).toBe(true);
    expect(out[0]!.bytes[out[0]!.upper + 4]! & 0xe0).toBe(NDP_NA_OVERRIDE);
  });

  test("a solicitation from :: with a source link address option is invalid", () => {
    const lan = twoHosts();
    lan.run(3000);
    const before = lan.a.stack.stats.icmp.v6.malformedReceived;
    inject(
      lan.a,
      ndp(
        Address.ANY_V6,
        solicitedNodeAddress(lan.a.linkLocal),
        ICMPV6_NEIGHBOR_SOLICIT,
        nsBody(lan.a.linkLocal, MAC_R),
      ),
    );
    expect(lan.a.stack.stats.icmp.v6.malformedReceived).toBe(before + 1);
    expect(lan.icmp(ICMPV6_NEIGHBOR_ADVERT, "a").length).toBe(0);
  });
});

describe("Duplicate Address Detection (RFC 4862 §5.4)", () => {
  test("success: a tentative address becomes usable after RetransTimer", () => {
    const lan = twoHosts();
    lan.run(3000);
    addGlobal(lan.a, a6("fd00::a"), true);
    expect(lan.a.nic.hasAddress(a6("fd00::a"))).toBe(false);
    lan.run(2500);
    expect(lan.a.nic.hasAddress(a6("fd00::a"))).toBe(true);
    const dad = lan.icmp(ICMPV6_NEIGHBOR_SOLICIT, "a").filter((f) => f.src.isUnspecified);
    expect(dad.map((f) => f.dst.toString())).toContain(solicitedNodeAddress(a6("fd00::a")).toString());
  });

  test("conflict: the owner answers, the address is not assigned and the conflict counted", () => {
    const lan = twoHosts();
    addGlobal(lan.b, a6("fd00::1"));
    lan.run(3000);
    addGlobal(lan.a, a6("fd00::1"), true);
    lan.run(2500);
    expect(lan.a.nic.addresses(IPV6_PROTOCOL_NUMBER).some((x) => x.address.equals(a6("fd00::1")))).toBe(
      false,
    );
    expect(lan.a.stack.stats.icmp.v6.dadConflicts).toBe(1);
    expect(lan.b.nic.hasAddress(a6("fd00::1"))).toBe(true);
    // B answered A's probe with an NA to all-nodes (RFC 4861 §7.2.4).
    expect(lan.icmp(ICMPV6_NEIGHBOR_ADVERT, "b").some((f) => f.dst.equals(Address.ALL_NODES_V6))).toBe(true);
  });

  test("conflict: another node probing the same tentative address (RFC 4862 §5.4.3)", () => {
    const lan = twoHosts();
    lan.run(3000);
    addGlobal(lan.a, a6("fd00::5"), true);
    const t = a6("fd00::5");
    inject(lan.a, ndp(Address.ANY_V6, solicitedNodeAddress(t), ICMPV6_NEIGHBOR_SOLICIT, nsBody(t)));
    lan.run(2500);
    expect(lan.a.nic.addresses(IPV6_PROTOCOL_NUMBER).some((x) => x.address.equals(t))).toBe(false);
    expect(lan.a.stack.stats.icmp.v6.dadConflicts).toBe(1);
  });

  test("our own probe looped back by the link is not a conflict (RFC 7527 nonce)", () => {
    const lan = twoHosts();
    lan.run(3000);
    addGlobal(lan.a, a6("fd00::5"), true);
    lan.run(1000);
    const probe = lan
      .icmp(ICMPV6_NEIGHBOR_SOLICIT, "a")
      .find((f) => f.src.isUnspecified && f.bytes[f.upper + 8 + 15] === 5);
    expect(probe).toBeDefined();
    inject(lan.a, probe!.bytes);
    lan.run(2000);
    expect(lan.a.nic.hasAddress(a6("fd00::5"))).toBe(true);
    expect(lan.a.stack.stats.icmp.v6.dadConflicts).toBe(0);
  });

  test("a probe with a different nonce is a conflict", () => {
    const lan = twoHosts();
    lan.run(3000);
    addGlobal(lan.a, a6("fd00::5"), true);
    lan.run(1000);
    const probe = lan
      .icmp(ICMPV6_NEIGHBOR_SOLICIT, "a")
      .find((f) => f.src.isUnspecified && f.bytes[f.upper + 8 + 15] === 5)!;
    const other = probe.bytes.slice();
    const body = other.subarray(probe.upper + 4);
    body[24 + 2] = body[24 + 2]! ^ 0xff;
    inject(lan.a, ndp(Address.ANY_V6, probe.dst, ICMPV6_NEIGHBOR_SOLICIT, body));
    lan.run(2000);
    expect(lan.a.nic.addresses(IPV6_PROTOCOL_NUMBER).some((x) => x.address.equals(a6("fd00::5")))).toBe(
      false,
    );
    expect(lan.a.stack.stats.icmp.v6.dadConflicts).toBe(1);
  });

  test("a usable address added by the user is checked too and removed on conflict", () => {
    const lan = twoHosts();
    addGlobal(lan.b, a6("fd00::7"));
    lan.run(3000);
    addGlobal(lan.a, a6("fd00::7"));
    expect(lan.a.nic.hasAddress(a6("fd00::7"))).toBe(true);
    lan.run(2500);
    expect(lan.a.nic.hasAddress(a6("fd00::7"))).toBe(false);
    expect(lan.a.stack.stats.icmp.v6.dadConflicts).toBe(1);
  });

  test("simultaneous DAD for one address: whoever hears the other's probe first gives up", () => {
    const lan = twoHosts();
    // B wants A's link-local address while A is still probing it.
    const t = lan.a.linkLocal;
    lan.b.stack.addAddress(1, IPV6_PROTOCOL_NUMBER, t, 64, { tentative: true });
    lan.run(3000);
    const conflicts = lan.a.stack.stats.icmp.v6.dadConflicts + lan.b.stack.stats.icmp.v6.dadConflicts;
    expect(conflicts).toBe(1);
    // Exactly one of them holds the address.
    expect(Number(lan.a.nic.hasAddress(t)) + Number(lan.b.nic.hasAddress(t))).toBe(1);
  });

  test("dupAddrDetectTransmits 0 assigns at once, sending nothing", () => {
    const lan = twoHosts({ a: { dupAddrDetectTransmits: 0, maxRouterSolicitations: 0, mld: false } });
    expect(lan.a.nic.hasAddress(lan.a.linkLocal)).toBe(true);
    lan.run(3000);
    expect(lan.frames.filter((f) => f.from === "a").length).toBe(0);
  });
});

describe("router advertisements (RFC 4861 §6.3.4) and SLAAC (RFC 4862 §5.5.3)", () => {
  function withRouter() {
    const lan = twoHosts();
    lan.run(3000);
    return lan;
  }
  const ra = (opts: Parameters<typeof raBody>[0], hopLimit = 255, src = ROUTER_LL) =>
    ndp(src, Address.ALL_NODES_V6, ICMPV6_ROUTER_ADVERT, raBody(opts), hopLimit);

  test("default route, on-link prefix, MTU, hop limit, SLAAC address after DAD", () => {
    const lan = withRouter();
    const { a } = lan;
    inject(
      a,
      ra({
        hopLimit: 42,
        lifetime: 1800,
        mtu: 1400,
        slla: MAC_R,
        prefixes: [{ prefix: "fd00:1::", valid: 3600, preferred: 1800 }],
      }),
    );
    const routes = a.stack
      .getRouteTable()
      .map((r) => `${r.destination}${r.gateway ? ` via ${r.gateway}` : ""}`);
    expect(routes).toContain("::/0 via fe80::1");
    expect(routes).toContain("fd00:1::/64");
    expect(a.ep.linkMtu).toBe(1400);
    expect(a.ep.hopLimit).toBe(42);
    expect(a.nic.neighbors(IPV6_PROTOCOL_NUMBER)!.entry(ROUTER_LL)!.linkAddress!.equals(MAC_R)).toBe(true);
    const slaac = a6("fd00:1::ff:fe00:a");
    expect(a.nic.addresses(IPV6_PROTOCOL_NUMBER).some((x) => x.address.equals(slaac))).toBe(true);
    expect(a.nic.hasAddress(slaac)).toBe(false);
    lan.run(2500);
    expect(a.nic.hasAddress(slaac)).toBe(true);
    expect(a.ep.ndp.defaultRouters().map(String)).toEqual(["fe80::1"]);
    // Router solicitation stops after an advertisement.
    const rsBefore = lan.icmp(ICMPV6_ROUTER_SOLICIT, "a").length;
    lan.run(10_000);
    expect(lan.icmp(ICMPV6_ROUTER_SOLICIT, "a").length).toBe(rsBefore);
  });

  test("lifetimes: the router and the address expire", () => {
    const lan = withRouter();
    const { a } = lan;
    inject(a, ra({ lifetime: 10, prefixes: [{ prefix: "fd00:2::", valid: 20, preferred: 10 }] }));
    lan.run(2500);
    const slaac = a6("fd00:2::ff:fe00:a");
    expect(a.nic.hasAddress(slaac)).toBe(true);
    lan.clock.advance(8000);
    expect(a.stack.getRouteTable().some((r) => r.gateway)).toBe(false);
    // Past the preferred lifetime (10 s) the address is deprecated (RFC 4862 §5.5.4), still valid.
    const entry = a.nic.addressEntry(slaac)!;
    expect(entry.deprecated).toBe(true);
    expect(a.nic.hasAddress(slaac)).toBe(true);
    // A new advertisement makes it preferred again.
    inject(a, ra({ lifetime: 0, prefixes: [{ prefix: "fd00:2::", valid: 20, preferred: 15 }] }));
    expect(entry.deprecated).toBe(false);
    inject(a, ra({ lifetime: 0, prefixes: [{ prefix: "fd00:2::", valid: 20, preferred: 0 }] }));
    expect(entry.deprecated).toBe(true);
    // Those advertisements also renewed the valid lifetime to 20 s from now.
    lan.clock.advance(19_000);
    expect(a.nic.hasAddress(slaac)).toBe(true);
    lan.clock.advance(1_000);
    expect(a.nic.addresses(IPV6_PROTOCOL_NUMBER).some((x) => x.address.equals(slaac))).toBe(false);
    expect(a.stack.getRouteTable().length).toBe(0);
  });

  test("router lifetime 0 removes the default router", () => {
    const lan = withRouter();
    inject(lan.a, ra({ lifetime: 600 }));
    expect(lan.a.stack.getRouteTable().length).toBe(1);
    inject(lan.a, ra({ lifetime: 0 }));
    expect(lan.a.stack.getRouteTable().length).toBe(0);
  });

  test("the two-hour rule: a short valid lifetime cannot cut a long one below 2 hours", () => {
    const lan = withRouter();
    inject(lan.a, ra({ lifetime: 0, prefixes: [{ prefix: "fd00:3::", valid: 86400, preferred: 3600 }] }));
    inject(lan.a, ra({ lifetime: 0, prefixes: [{ prefix: "fd00:3::", valid: 10, preferred: 5 }] }));
    const [s] = lan.a.ep.ndp.slaacAddresses();
    expect(s!.validUntil - lan.clock.now()).toBe(2 * 3600_000);
  });

  test("ignored: not /64, preferred > valid, link-local prefix, A flag clear", () => {
    const lan = withRouter();
    inject(
      lan.a,
      ra({
        lifetime: 0,
        prefixes: [
          { prefix: "fd00:4::", len: 48, valid: 100, preferred: 100 },
          { prefix: "fd00:5::", valid: 100, preferred: 200 },
          { prefix: "fe80::", valid: 100, preferred: 100 },
          { prefix: "fd00:6::", flags: 0x80, valid: 100, preferred: 100 },
        ],
      }),
    );
    expect(lan.a.ep.ndp.slaacAddresses()).toEqual([]);
    // The on-link (L flag) part is independent of autoconfiguration: all but the link-local prefix are on-link.
    expect(
      lan.a.stack
        .getRouteTable()
        .map((r) => r.destination.toString())
        .sort(),
    ).toEqual(["fd00:4::/48", "fd00:5::/64", "fd00:6::/64"]);
  });

  test("invalid advertisements: hop limit below 255, non-link-local source", () => {
    const lan = withRouter();
    const before = lan.a.stack.stats.icmp.v6.malformedReceived;
    inject(lan.a, ra({ lifetime: 600 }, 64));
    inject(lan.a, ra({ lifetime: 600 }, 255, a6("fd00::1")));
    expect(lan.a.stack.getRouteTable().length).toBe(0);
    expect(lan.a.stack.stats.icmp.v6.malformedReceived).toBe(before + 2);
  });

  test("an MTU option below 1280 or above the link MTU is ignored", () => {
    const lan = withRouter();
    inject(lan.a, ra({ lifetime: 0, mtu: 1000 }));
    inject(lan.a, ra({ lifetime: 0, mtu: 9000 }));
    expect(lan.a.ep.linkMtu).toBe(1500);
  });

  test("a redirect from the first-hop router adds a host route (RFC 4861 §8)", () => {
    const lan = withRouter();
    const { a } = lan;
    inject(a, ra({ lifetime: 1800 }));
    const routes = () =>
      a.stack.getRouteTable().map((r) => `${r.destination}${r.gateway ? ` via ${r.gateway}` : ""}`);
    const redirect = (target: Address, destination: Address, tlla?: LinkAddress) => {
      const body = new Uint8Array(36 + (tlla ? 8 : 0));
      body.set(target.bytes, 4);
      body.set(destination.bytes, 20);
      if (tlla) body.set(llaOption(2, tlla), 36);
      return body;
    };
    const dst = a6("fd00:99::1");
    const better = a6("fe80::2");
    const betterMac = new LinkAddress(Uint8Array.of(2, 0, 0, 0, 0, 0x22));
    // Only the current first hop for the destination may redirect.
    inject(a, ndp(a6("fe80::3"), a.linkLocal, 137, redirect(better, dst, betterMac)));
    expect(routes()).toEqual(["::/0 via fe80::1"]);
    inject(a, ndp(ROUTER_LL, a.linkLocal, 137, redirect(better, dst, betterMac)));
    expect(routes()).toContain("fd00:99::1/128 via fe80::2");
    expect(a.nic.neighbors(IPV6_PROTOCOL_NUMBER)!.entry(better)!.linkAddress!.equals(betterMac)).toBe(true);
    // Target = destination: the destination is on-link.
    const near = a6("fd00:98::5");
    inject(a, ndp(ROUTER_LL, a.linkLocal, 137, redirect(near, near)));
    expect(routes()).toContain("fd00:98::5/128");
    // A global target that is not the destination is invalid.
    inject(a, ndp(ROUTER_LL, a.linkLocal, 137, redirect(a6("fd00::2"), a6("fd00:97::1"))));
    expect(routes().some((r) => r.startsWith("fd00:97::1"))).toBe(false);
    expect(a.stack.stats.icmp.v6.redirect.received).toBe(4);
    lan.clock.advance(10 * 60_000);
    expect(routes()).toEqual(["::/0 via fe80::1"]);
  });

  test("traffic to a global destination goes through the learnt default router", () => {
    const lan = withRouter();
    inject(lan.a, ra({ lifetime: 1800, prefixes: [{ prefix: "fd00:1::", valid: 3600, preferred: 3600 }] }));
    lan.run(2500);
    lan.frames.length = 0;
    ping(lan.a, a6("fd00:99::1"));
    // The router's link address is not known yet: A solicits fe80::1.
    const ns = lan.icmp(ICMPV6_NEIGHBOR_SOLICIT, "a");
    expect(ns.length).toBe(1);
    expect(ns[0]!.dst.equals(solicitedNodeAddress(ROUTER_LL))).toBe(true);
    expect(Subnet.parse("fd00:1::/64").contains(ns[0]!.src) || ns[0]!.src.isLinkLocalUnicast).toBe(true);
    expect(lan.icmp(ICMPV6_ECHO_REPLY).length).toBe(0);
  });
});

describe("robustness", () => {
  test("random NDP bodies with valid checksums never throw, and resolution still works", () => {
    const lan = twoHosts();
    lan.run(3000);
    fc.assert(
      fc.property(
        fc.constantFrom(
          ICMPV6_ROUTER_SOLICIT,
          ICMPV6_ROUTER_ADVERT,
          ICMPV6_NEIGHBOR_SOLICIT,
          ICMPV6_NEIGHBOR_ADVERT,
          137,
        ),
        fc.uint8Array({ minLength: 0, maxLength: 120 }),
        fc.boolean(),
        (type, body, fromUnspecified) => {
          const src = fromUnspecified ? Address.ANY_V6 : ROUTER_LL;
          const dst =
            type === ICMPV6_NEIGHBOR_SOLICIT ? solicitedNodeAddress(lan.a.linkLocal) : Address.ALL_NODES_V6;
          inject(lan.a, ndp(src, dst, type, body));
        },
      ),
      { numRuns: 1000 },
    );
    lan.clock.advance(100_000);
    lan.frames.length = 0;
    ping(lan.a, lan.b.linkLocal, 9);
    expect(lan.icmp(ICMPV6_ECHO_REPLY, "b").length).toBe(1);
  });
});

describe("links without link-layer addresses (TUN)", () => {
  test("no NDP, addresses usable at once, ping works", () => {
    const lan = twoHosts({ mode: "ip" });
    addGlobal(lan.a, a6("fd00::a"), true);
    addGlobal(lan.b, a6("fd00::b"));
    expect(lan.a.nic.hasAddress(a6("fd00::a"))).toBe(true);
    lan.run(10_000);
    expect(lan.frames.length).toBe(0);
    expect(lan.a.ep.linkAddressResolver).toBeUndefined();
    ping(lan.a, a6("fd00::b"));
    expect(lan.icmp(ICMPV6_ECHO_REPLY, "b").length).toBe(1);
    expect(
      lan.frames.filter((f) => f.icmpType !== undefined && f.icmpType >= 133 && f.icmpType <= 137),
    ).toEqual([]);
  });
});
