import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { Address } from "../tcpip/address.ts";
import { ManualClock } from "../tcpip/clock.ts";
import { ErrInvalidOptionValue } from "../tcpip/errors.ts";
import { ARP_PROTOCOL_NUMBER, IPV4_PROTOCOL_NUMBER, IPV6_PROTOCOL_NUMBER } from "../tcpip/protocols.ts";
import { ConnTable, type ConntrackEvent, DEFAULT_TIMEOUTS } from "./table.ts";
import { FLAG_ACK as ACK, FLAG_FIN as FIN, FLAG_RST as RST, FLAG_SYN as SYN } from "./tcb.ts";
import { echoPacket, icmpPacket, type TcpSpec, tcpPacket, udpPacket } from "./testing/packets.ts";

const C4 = Address.parse("198.18.0.1");
const S4 = Address.parse("198.18.0.2");
const C6 = Address.parse("fd00::1");
const S6 = Address.parse("fd00::2");
const A = 1000;
const B = 50_000;

function netProto(a: Address): number {
  return a.is4 ? IPV4_PROTOCOL_NUMBER : IPV6_PROTOCOL_NUMBER;
}

function setup(opts: { maxEntries?: number } = {}) {
  const clock = new ManualClock();
  const table = new ConnTable({ clock, ...opts });
  const events: ConntrackEvent[] = [];
  table.onChange((e) => events.push(e));
  /** Client → server and server → client TCP segments, through the "inbound"/"outbound" hooks. */
  const flow = (c: Address, s: Address, cport = 40000, sport = 80) => ({
    c: (spec: Omit<TcpSpec, "sport" | "dport">) =>
      table.observe("outbound", netProto(c), tcpPacket(c, s, { sport: cport, dport: sport, ...spec })),
    s: (spec: Omit<TcpSpec, "sport" | "dport">) =>
      table.observe("inbound", netProto(c), tcpPacket(s, c, { sport, dport: cport, ...spec })),
    get: () => table.lookup("tcp", c, cport, s, sport),
  });
  return { clock, table, events, flow };
}

describe("TCP entries", () => {
  for (const [name, c, s] of [
    ["IPv4", C4, S4],
    ["IPv6", C6, S6],
  ] as const) {
    test(`${name}: a connection from SYN to TIME-WAIT and expiry, with counters and events`, () => {
      const { clock, table, events, flow } = setup();
      const f = flow(c, s);
      f.c({ flags: SYN, seq: A, ws: 7, mss: 1460 });
      expect(f.get()?.state).toBe("syn_sent");
      clock.advance(10);
      f.s({ flags: SYN | ACK, seq: B, ack: A + 1, ws: 7 });
      expect(f.get()?.state).toBe("syn_recv");
      f.c({ flags: ACK, seq: A + 1, ack: B + 1 });
      f.c({ flags: ACK, seq: A + 1, ack: B + 1, len: 100 });
      f.s({ flags: ACK, seq: B + 1, ack: A + 101, len: 1000 });
      const est = f.get()!;
      expect(est.state).toBe("established");
      expect(est.assured).toBe(true);
      expect(est.protocol).toBe("tcp");
      expect(est.ipVersion).toBe(name === "IPv4" ? 4 : 6);
      expect(est.origSrc).toBe(c.toString());
      expect(est.origDst).toBe(s.toString());
      expect(est.origSrcPort).toBe(40000);
      expect(est.origDstPort).toBe(80);
      const hl = name === "IPv4" ? 20 : 40;
      expect(est.origPackets).toBe(3);
      expect(est.origBytes).toBe(3 * (hl + 20) + 8 + 100); // SYN options: MSS + NOP WS = 8 bytes
      expect(est.replyPackets).toBe(2);
      expect(est.replyBytes).toBe(2 * (hl + 20) + 4 + 1000);
      expect(est.firstSeen).toBe(clock.wallNow() - 10);
      expect(est.lastSeen).toBe(clock.wallNow());
      expect(est.forwarded).toBe(false);
      // The reverse lookup finds the same entry.
      expect(table.lookup("tcp", s, 80, c, 40000)?.id).toBe(est.id);

      f.c({ flags: FIN | ACK, seq: A + 101, ack: B + 1001 });
      expect(f.get()?.state).toBe("fin_wait");
      f.s({ flags: ACK, seq: B + 1001, ack: A + 102 });
      expect(f.get()?.state).toBe("close_wait");
      f.s({ flags: FIN | ACK, seq: B + 1001, ack: A + 102 });
      expect(f.get()?.state).toBe("last_ack");
      f.c({ flags: ACK, seq: A + 102, ack: B + 1002 });
      expect(f.get()?.state).toBe("time_wait");
      expect(f.get()?.expiresInMs).toBe(120_000);

      clock.advance(119_999);
      expect(table.size).toBe(1);
      clock.advance(1);
      expect(table.size).toBe(0);
      expect(table.stats.timedOut).toBe(1);
      expect(
        events.map((e) => (e.type === "update" ? `${e.previousState}>${e.flow.state}` : e.type)),
      ).toEqual([
        "new",
        "syn_sent>syn_recv",
        "syn_recv>established",
        "established>fin_wait",
        "fin_wait>close_wait",
        "close_wait>last_ack",
        "last_ack>time_wait",
        "destroy",
      ]);
      const last = events.at(-1)!;
      expect(last.type === "destroy" && last.reason).toBe("timeout");
    });
  }

  test("segments that do not fit are counted invalid and change nothing", () => {
    const { table, flow } = setup();
    const f = flow(C4, S4);
    f.c({ flags: SYN, seq: A });
    f.s({ flags: SYN | ACK, seq: B, ack: A + 1 });
    f.c({ flags: ACK, seq: A + 1, ack: B + 1 });
    const before = f.get()!;
    f.c({ flags: ACK, seq: A + 10_000_000, ack: B + 1, len: 10 });
    f.s({ flags: RST, seq: B + 5_000_000 });
    expect(table.stats.invalid).toBe(2);
    expect(f.get()?.state).toBe("established");
    expect(f.get()?.origPackets).toBe(before.origPackets);
    expect(f.get()?.replyPackets).toBe(before.replyPackets);
  });

  test("an RST in the window closes the entry; it expires after the close timeout", () => {
    const { clock, table, flow } = setup();
    const f = flow(C4, S4);
    f.c({ flags: SYN, seq: A });
    f.s({ flags: SYN | ACK, seq: B, ack: A + 1 });
    f.c({ flags: ACK, seq: A + 1, ack: B + 1 });
    f.s({ flags: RST, seq: B + 1 });
    expect(f.get()?.state).toBe("close");
    clock.advance(DEFAULT_TIMEOUTS.tcpClose);
    expect(table.size).toBe(0);
  });

  test("refused connection: SYN then RST+ACK", () => {
    const { flow } = setup();
    const f = flow(C4, S4);
    f.c({ flags: SYN, seq: A });
    f.s({ flags: RST | ACK, seq: 0, ack: A + 1 });
    expect(f.get()?.state).toBe("close");
  });

  test("a new SYN replaces an entry in TIME-WAIT", () => {
    const { table, events, flow } = setup();
    const f = flow(C4, S4);
    f.c({ flags: SYN, seq: A });
    f.s({ flags: SYN | ACK, seq: B, ack: A + 1 });
    f.c({ flags: ACK | FIN, seq: A + 1, ack: B + 1 });
    f.s({ flags: ACK | FIN, seq: B + 1, ack: A + 2 });
    f.c({ flags: ACK, seq: A + 2, ack: B + 2 });
    const old = f.get()!;
    expect(old.state).toBe("time_wait");
    f.c({ flags: SYN, seq: A + 1_000_000 });
    const fresh = f.get()!;
    expect(fresh.state).toBe("syn_sent");
    expect(fresh.id).not.toBe(old.id);
    expect(table.size).toBe(1);
    expect(events.some((e) => e.type === "destroy" && e.reason === "replaced")).toBe(true);
  });

  test("a third segment that carries a FIN still makes the entry assured", () => {
    const { flow } = setup();
    const f = flow(C4, S4);
    f.c({ flags: SYN, seq: A });
    f.s({ flags: SYN | ACK, seq: B, ack: A + 1 });
    f.c({ flags: ACK | FIN, seq: A + 1, ack: B + 1, len: 10 });
    expect(f.get()).toMatchObject({ state: "fin_wait", assured: true });
  });

  test("mid-stream segments without an entry are not tracked", () => {
    const { table, flow } = setup();
    const f = flow(C4, S4);
    f.c({ flags: ACK, seq: A, ack: B, len: 10 });
    f.s({ flags: SYN | ACK, seq: B, ack: A });
    expect(table.size).toBe(0);
    expect(table.stats.untracked).toBe(2);
  });

  test("each state times out after its Linux default", () => {
    const cases: [string, (f: ReturnType<ReturnType<typeof setup>["flow"]>) => void, number][] = [
      ["syn_sent", (f) => f.c({ flags: SYN, seq: A }), 120_000],
      [
        "syn_recv",
        (f) => {
          f.c({ flags: SYN, seq: A });
          f.s({ flags: SYN | ACK, seq: B, ack: A + 1 });
        },
        60_000,
      ],
      [
        "established",
        (f) => {
          f.c({ flags: SYN, seq: A });
          f.s({ flags: SYN | ACK, seq: B, ack: A + 1 });
          f.c({ flags: ACK, seq: A + 1, ack: B + 1 });
        },
        432_000_000,
      ],
      [
        "fin_wait",
        (f) => {
          f.c({ flags: SYN, seq: A });
          f.s({ flags: SYN | ACK, seq: B, ack: A + 1 });
          f.c({ flags: ACK | FIN, seq: A + 1, ack: B + 1 });
        },
        120_000,
      ],
      [
        "close_wait",
        (f) => {
          f.c({ flags: SYN, seq: A });
          f.s({ flags: SYN | ACK, seq: B, ack: A + 1 });
          f.c({ flags: ACK | FIN, seq: A + 1, ack: B + 1 });
          f.s({ flags: ACK, seq: B + 1, ack: A + 2 });
        },
        60_000,
      ],
      [
        "last_ack",
        (f) => {
          f.c({ flags: SYN, seq: A });
          f.s({ flags: SYN | ACK, seq: B, ack: A + 1 });
          f.c({ flags: ACK | FIN, seq: A + 1, ack: B + 1 });
          f.s({ flags: ACK | FIN, seq: B + 1, ack: A + 1 });
        },
        30_000,
      ],
      [
        "close",
        (f) => {
          f.c({ flags: SYN, seq: A });
          f.c({ flags: RST, seq: A + 1 });
        },
        10_000,
      ],
    ];
    for (const [state, drive, timeout] of cases) {
      const { clock, table, flow } = setup();
      const f = flow(C4, S4);
      drive(f);
      expect(f.get()?.state).toBe(state);
      clock.advance(timeout - 1);
      expect(table.size).toBe(1);
      clock.advance(1);
      expect(table.size).toBe(0);
    }
  });

  test("timeouts are configurable and checked", () => {
    const { clock, table, flow } = setup();
    table.setTimeouts({ tcpSynSent: 5_000 });
    flow(C4, S4).c({ flags: SYN, seq: A });
    clock.advance(5_000);
    expect(table.size).toBe(0);
    expect(() => table.setTimeouts({ tcpSynSent: -1 })).toThrow(ErrInvalidOptionValue);
    expect(() => table.setTimeouts({ nope: 1 } as never)).toThrow(ErrInvalidOptionValue);
    expect(() => new ConnTable({ clock, maxEntries: 0 })).toThrow(ErrInvalidOptionValue);
  });

  test("activity keeps an entry alive; invalid segments do not", () => {
    const { clock, table, flow } = setup();
    const f = flow(C4, S4);
    f.c({ flags: SYN, seq: A });
    clock.advance(100_000);
    f.c({ flags: SYN, seq: A }); // retransmitted SYN: refreshes
    clock.advance(100_000);
    expect(table.size).toBe(1);
    f.s({ flags: ACK, seq: B, ack: A + 77 }); // invalid: does not refresh
    clock.advance(20_000);
    expect(table.size).toBe(0);
  });

  test("packets through the forwarded hook mark the entry", () => {
    const { table } = setup();
    table.observe(
      "forwarded",
      IPV4_PROTOCOL_NUMBER,
      tcpPacket(C4, S4, { sport: 1, dport: 2, flags: SYN, seq: A }),
    );
    expect(table.lookup("tcp", C4, 1, S4, 2)?.forwarded).toBe(true);
  });
});

describe("UDP entries", () => {
  test("unreplied for 30 s, assured for 120 s after a reply", () => {
    const { clock, table, events } = setup();
    table.observe("outbound", IPV4_PROTOCOL_NUMBER, udpPacket(C4, S4, 5000, 53, 20));
    expect(table.lookup("udp", C4, 5000, S4, 53)).toMatchObject({
      state: "unreplied",
      origPackets: 1,
      origBytes: 48,
      assured: false,
    });
    clock.advance(30_000);
    expect(table.size).toBe(0);

    table.observe("outbound", IPV4_PROTOCOL_NUMBER, udpPacket(C4, S4, 5000, 53, 20));
    table.observe("inbound", IPV4_PROTOCOL_NUMBER, udpPacket(S4, C4, 53, 5000, 100));
    expect(table.lookup("udp", S4, 53, C4, 5000)).toMatchObject({
      state: "assured",
      origPackets: 1,
      replyPackets: 1,
      replyBytes: 128,
      assured: true,
      origSrc: "198.18.0.1",
    });
    clock.advance(119_999);
    expect(table.size).toBe(1);
    clock.advance(1);
    expect(table.size).toBe(0);
    expect(events.filter((e) => e.type === "update").length).toBe(1);
  });

  test("activity moves an entry behind idler ones: each expires on its own deadline", () => {
    const { clock, table } = setup();
    const send = (port: number) =>
      table.observe("outbound", IPV4_PROTOCOL_NUMBER, udpPacket(C4, S4, port, 53));
    send(1); // t = 0
    clock.advance(2_000);
    send(2); // t = 2 s
    clock.advance(3_000);
    send(1); // t = 5 s: flow 1 is now the most recently active
    clock.advance(27_000); // t = 32 s: flow 2 (deadline 32 s) goes, flow 1 (35 s) stays
    expect(table.lookup("udp", C4, 2, S4, 53)).toBeUndefined();
    expect(table.lookup("udp", C4, 1, S4, 53)?.expiresInMs).toBe(3_000);
    clock.advance(3_000);
    expect(table.size).toBe(0);
  });

  test("IPv6 flows, also behind extension headers; later fragments are not tracked", () => {
    const { table } = setup();
    table.observe("inbound", IPV6_PROTOCOL_NUMBER, udpPacket(C6, S6, 7, 7));
    // Hop-by-hop options (8 bytes of PadN) in front of UDP.
    const plain = udpPacket(C6, S6, 9, 9);
    const hbh = new Uint8Array(plain.length + 8);
    hbh.set(plain.subarray(0, 40), 0);
    hbh[6] = 0; // Next Header: hop-by-hop
    hbh[5] = plain[5]! + 8;
    hbh[40] = 17; // then UDP
    hbh[41] = 0;
    hbh[42] = 1; // PadN
    hbh[43] = 4;
    hbh.set(plain.subarray(40), 48);
    table.observe("inbound", IPV6_PROTOCOL_NUMBER, hbh);
    // A fragment header with offset 8: not the first fragment.
    const frag = new Uint8Array(plain.length + 8);
    frag.set(plain.subarray(0, 40), 0);
    frag[6] = 44;
    frag[5] = plain[5]! + 8;
    frag[40] = 17;
    frag[43] = 8; // offset 1 (8 bytes), M=0
    frag.set(plain.subarray(40), 48);
    table.observe("inbound", IPV6_PROTOCOL_NUMBER, frag);
    expect(table.lookup("udp", C6, 7, S6, 7)?.ipVersion).toBe(6);
    expect(table.lookup("udp", C6, 9, S6, 9)?.origSrc).toBe("fd00::1");
    expect(table.counts()).toEqual({ total: 2, tcp: 0, udp: 2, icmp: 0 });
    expect(table.stats.untracked).toBe(1);
  });
});

describe("ICMP echo entries", () => {
  for (const [name, c, s, proto] of [
    ["ICMPv4", C4, S4, "icmp"],
    ["ICMPv6", C6, S6, "icmpv6"],
  ] as const) {
    test(`${name}: request creates, reply answers, 30 s idle timeout`, () => {
      const { clock, table } = setup();
      table.observe("outbound", netProto(c), echoPacket(c, s, 0x1234, 1));
      expect(table.lookup(proto, c, 0x1234, s, 0x1234)?.state).toBe("unreplied");
      table.observe("inbound", netProto(c), echoPacket(s, c, 0x1234, 1, true));
      table.observe("outbound", netProto(c), echoPacket(c, s, 0x1234, 2));
      const r = table.lookup(proto, s, 0x1234, c, 0)!;
      expect(r).toMatchObject({ state: "replied", protocol: proto, origPackets: 2, replyPackets: 1 });
      expect(r.origSrcPort).toBe(0x1234);
      expect(r.origSrc).toBe(c.toString());
      clock.advance(30_000);
      expect(table.size).toBe(0);
    });
  }

  test("replies without a request and ICMP errors are not tracked", () => {
    const { table } = setup();
    table.observe("inbound", IPV4_PROTOCOL_NUMBER, echoPacket(S4, C4, 1, 1, true));
    table.observe("inbound", IPV4_PROTOCOL_NUMBER, icmpPacket(S4, C4, 3, 3));
    expect(table.size).toBe(0);
    expect(table.stats.untracked).toBe(2);
  });
});

describe("malformed and foreign packets", () => {
  test("truncated and broken headers are counted, never thrown", () => {
    const { table } = setup();
    const good = tcpPacket(C4, S4, { sport: 1, dport: 2, flags: SYN, seq: 1 });
    table.observe("inbound", IPV4_PROTOCOL_NUMBER, good.subarray(0, 10));
    table.observe("inbound", IPV4_PROTOCOL_NUMBER, good.subarray(0, 30));
    const badIhl = good.slice();
    badIhl[0] = 0x43;
    table.observe("inbound", IPV4_PROTOCOL_NUMBER, badIhl);
    const badOffset = good.slice();
    badOffset[20 + 12] = 0x20; // data offset 8 bytes
    table.observe("inbound", IPV4_PROTOCOL_NUMBER, badOffset);
    table.observe("inbound", IPV6_PROTOCOL_NUMBER, new Uint8Array(39));
    table.observe("inbound", IPV4_PROTOCOL_NUMBER, good, 5, 1000);
    expect(table.stats.malformed).toBe(6);
    table.observe("inbound", ARP_PROTOCOL_NUMBER, new Uint8Array(28));
    expect(table.stats.untracked).toBe(1);
    expect(table.size).toBe(0);
  });

  test("random and mutated bytes never throw", () => {
    const { table } = setup();
    const seeds = [
      tcpPacket(C4, S4, { sport: 1, dport: 2, flags: SYN, seq: 1, ws: 3 }),
      tcpPacket(C6, S6, { sport: 1, dport: 2, flags: SYN, seq: 1, ws: 3 }),
      udpPacket(C4, S4, 1, 2, 4),
      echoPacket(C6, S6, 1, 1),
    ];
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: seeds.length - 1 }),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }),
        fc.uint8Array({ maxLength: 80 }),
        fc.boolean(),
        (i, edits, random, useRandom) => {
          const b = useRandom ? random : seeds[i]!.slice();
          if (!useRandom) for (const [at, v] of edits) b[at % b.length] = v;
          const proto = (b[0] ?? 0) >> 4 === 6 ? IPV6_PROTOCOL_NUMBER : IPV4_PROTOCOL_NUMBER;
          table.observe("inbound", proto, b);
        },
      ),
      { numRuns: 3000 },
    );
    expect(table.stats.packets).toBe(3000);
  });
});

describe("change feed", () => {
  test("unsubscribe stops events; a throwing listener is counted and the others still run", () => {
    const { table, events } = setup();
    const seen: string[] = [];
    const off = table.onChange((e) => seen.push(e.type));
    table.onChange(() => {
      throw new Error("listener bug");
    });
    table.observe("outbound", IPV4_PROTOCOL_NUMBER, udpPacket(C4, S4, 1, 2));
    off();
    table.observe("outbound", IPV4_PROTOCOL_NUMBER, udpPacket(C4, S4, 3, 4));
    expect(seen).toEqual(["new"]);
    expect(events.length).toBe(2);
    expect(table.stats.listenerErrors).toBe(2);
    table.clear();
    expect(events.filter((e) => e.type === "destroy" && e.reason === "cleared").length).toBe(2);
  });
});

describe("bound and eviction", () => {
  test("when full, dead TCP entries go first, then unanswered ones, then the least recently active", () => {
    const { clock, table, events, flow } = setup({ maxEntries: 4 });
    // 1: established, oldest activity
    const est = flow(C4, S4, 1001);
    est.c({ flags: SYN, seq: A });
    est.s({ flags: SYN | ACK, seq: B, ack: A + 1 });
    est.c({ flags: ACK, seq: A + 1, ack: B + 1 });
    clock.advance(1);
    // 2: reset (close)
    const dead = flow(C4, S4, 1002);
    dead.c({ flags: SYN, seq: A });
    dead.c({ flags: RST, seq: A + 1 });
    clock.advance(1);
    // 3: unreplied UDP
    table.observe("outbound", IPV4_PROTOCOL_NUMBER, udpPacket(C4, S4, 1003, 53));
    clock.advance(1);
    // 4: assured UDP
    table.observe("outbound", IPV4_PROTOCOL_NUMBER, udpPacket(C4, S4, 1004, 53));
    table.observe("inbound", IPV4_PROTOCOL_NUMBER, udpPacket(S4, C4, 53, 1004));
    clock.advance(1);

    const evicted = () =>
      events.filter((e) => e.type === "destroy" && e.reason === "evicted").map((e) => e.flow.origSrcPort);
    table.observe("outbound", IPV4_PROTOCOL_NUMBER, udpPacket(C4, S4, 2001, 53));
    expect(evicted()).toEqual([1002]);
    table.observe("outbound", IPV4_PROTOCOL_NUMBER, udpPacket(C4, S4, 2002, 53));
    expect(evicted()).toEqual([1002, 1003]);
    table.observe("outbound", IPV4_PROTOCOL_NUMBER, udpPacket(C4, S4, 2003, 53));
    expect(evicted()).toEqual([1002, 1003, 2001]);
    // Only live entries left besides the unreplied 2002, 2003: those go first, oldest first.
    table.observe("inbound", IPV4_PROTOCOL_NUMBER, udpPacket(S4, C4, 53, 2002));
    table.observe("inbound", IPV4_PROTOCOL_NUMBER, udpPacket(S4, C4, 53, 2003));
    table.observe("outbound", IPV4_PROTOCOL_NUMBER, udpPacket(C4, S4, 2004, 53));
    expect(evicted()).toEqual([1002, 1003, 2001, 1001]);
    expect(table.size).toBe(4);
    expect(table.stats.evicted).toBe(4);
  });
});

describe("100,000 flows", () => {
  test("counts, timeouts and eviction under the bound", () => {
    const clock = new ManualClock();
    const N = 100_000;
    const table = new ConnTable({ clock, maxEntries: N });
    const server = Address.parse("198.19.0.1");
    const client = (i: number) => Address.v4(198, 18, (i >> 8) & 255, i & 255);
    const syns: Uint8Array[] = [];
    const synAcks: Uint8Array[] = [];
    const acks: Uint8Array[] = [];
    for (let i = 0; i < N / 2; i++) {
      const c = client(i);
      const port = 10_000 + (i >> 16);
      syns.push(tcpPacket(c, server, { sport: port, dport: 80, flags: SYN, seq: i }));
      synAcks.push(tcpPacket(server, c, { sport: 80, dport: port, flags: SYN | ACK, seq: B, ack: i + 1 }));
      acks.push(tcpPacket(c, server, { sport: port, dport: 80, flags: ACK, seq: i + 1, ack: B + 1 }));
    }
    const udps: Uint8Array[] = [];
    for (let i = 0; i < N / 2; i++) udps.push(udpPacket(client(i), server, 20_000, 53));

    for (let i = 0; i < N / 2; i++) {
      table.observe("inbound", IPV4_PROTOCOL_NUMBER, syns[i]!);
      table.observe("outbound", IPV4_PROTOCOL_NUMBER, synAcks[i]!);
      table.observe("inbound", IPV4_PROTOCOL_NUMBER, acks[i]!);
      table.observe("inbound", IPV4_PROTOCOL_NUMBER, udps[i]!);
    }
    expect(table.counts()).toEqual({ total: N, tcp: N / 2, udp: N / 2, icmp: 0 });
    const some = table.snapshot(3);
    expect(some.map((r) => [r.protocol, r.origSrc, r.state])).toEqual([
      ["tcp", "198.18.0.0", "established"],
      ["udp", "198.18.0.0", "unreplied"],
      ["tcp", "198.18.0.1", "established"],
    ]);
    expect(table.stats.invalid).toBe(0);
    expect(table.lookup("tcp", client(777), 10_000, server, 80)?.state).toBe("established");

    // Full: each new flow evicts one, the unreplied UDP ones (oldest first) before any TCP.
    for (let i = 0; i < 1000; i++) {
      table.observe("outbound", IPV4_PROTOCOL_NUMBER, udpPacket(server, client(i), 30_000, 9));
    }
    expect(table.size).toBe(N);
    expect(table.stats.evicted).toBe(1000);
    expect(table.counts().tcp).toBe(N / 2);
    expect(table.lookup("udp", client(0), 20_000, server, 53)).toBeUndefined();
    expect(table.lookup("udp", client(1000), 20_000, server, 53)).toBeDefined();

    // 30 s on, the unreplied UDP flows expire; the established TCP ones stay for 5 days.
    clock.advance(30_000);
    expect(table.counts()).toEqual({ total: N / 2, tcp: N / 2, udp: 0, icmp: 0 });
    expect(table.stats.timedOut).toBe(N / 2);
    clock.advance(DEFAULT_TIMEOUTS.tcpEstablished - 30_000);
    expect(table.size).toBe(0);
    expect(table.stats.timedOut).toBe(N);
    expect(table.snapshot()).toEqual([]);
  }, 60_000);
});

describe("memory", () => {
  test("heap per entry for 100,000 TCP (established) and 100,000 UDP entries", () => {
    const N = 100_000;
    const server = Address.parse("198.19.0.1");
    const client = (i: number) => Address.v4(198, 18, (i >> 8) & 255, i & 255);
    // Packets are made before measuring.
    const tcp: Uint8Array[] = [];
    const udp: Uint8Array[] = [];
    for (let i = 0; i < N; i++) {
      const c = client(i & 0xffff);
      const port = 10_000 + (i >> 16);
      tcp.push(
        tcpPacket(c, server, { sport: port, dport: 80, flags: SYN, seq: i }),
        tcpPacket(server, c, { sport: 80, dport: port, flags: SYN | ACK, seq: B, ack: i + 1 }),
        tcpPacket(c, server, { sport: port, dport: 80, flags: ACK, seq: i + 1, ack: B + 1 }),
      );
      udp.push(udpPacket(c, server, port, 53));
    }
    const heap = () => {
      Bun.gc(true);
      return process.memoryUsage().heapUsed;
    };
    /** Heap a full table holds: measured as what is freed when it is dropped (both after a full GC). */
    const retained = (packets: Uint8Array[]) => {
      let t: ConnTable | undefined = new ConnTable({ clock: new ManualClock(), maxEntries: N });
      for (const p of packets) t.observe("inbound", IPV4_PROTOCOL_NUMBER, p);
      const size = t.size;
      const stats = { ...t.stats, ...t.counts() };
      const withTable = heap();
      t = undefined;
      return { perEntry: (withTable - heap()) / size, stats };
    };
    const tcpTable = retained(tcp);
    const udpTable = retained(udp);
    console.log(
      `conntrack heap per entry (IPv4, Map included): TCP ≈ ${tcpTable.perEntry.toFixed(0)} B, ` +
        `UDP ≈ ${udpTable.perEntry.toFixed(0)} B`,
    );
    expect(tcpTable.stats.tcp).toBe(N);
    expect(udpTable.stats.udp).toBe(N);
    expect(tcpTable.stats.invalid).toBe(0);
  }, 60_000);
});

describe("bookkeeping under random traffic (property)", () => {
  test("bounded size, consistent counts, and every entry still expires", () => {
    const hosts = [C4, S4, Address.parse("198.18.0.3")];
    const packet = fc.record({
      proto: fc.constantFrom("tcp", "tcp", "udp", "icmp"),
      src: fc.integer({ min: 0, max: 2 }),
      dst: fc.integer({ min: 0, max: 2 }),
      sport: fc.constantFrom(1000, 2000),
      dport: fc.constantFrom(80, 1000),
      flags: fc.constantFrom(SYN, SYN | ACK, ACK, ACK | FIN, RST, RST | ACK, FIN, 0),
      seq: fc.constantFrom(0, 1, 2, 100, 70_000),
      ack: fc.constantFrom(0, 1, 2, 101),
      len: fc.constantFrom(0, 0, 10),
      reply: fc.boolean(),
      advance: fc.constantFrom(0, 0, 1, 2_000, 5_000, 29_000, 31_000, 130_000),
    });
    fc.assert(
      fc.property(fc.array(packet, { maxLength: 120 }), fc.integer({ min: 1, max: 6 }), (steps, max) => {
        const clock = new ManualClock();
        const table = new ConnTable({ clock, maxEntries: max });
        for (const st of steps) {
          const src = hosts[st.src]!;
          const dst = hosts[st.dst]!;
          const bytes =
            st.proto === "tcp"
              ? tcpPacket(src, dst, {
                  sport: st.sport,
                  dport: st.dport,
                  flags: st.flags,
                  seq: st.seq,
                  ack: st.ack,
                  len: st.len,
                })
              : st.proto === "udp"
                ? udpPacket(src, dst, st.sport, st.dport, st.len)
                : echoPacket(src, dst, st.sport, 1, st.reply);
          table.observe("inbound", IPV4_PROTOCOL_NUMBER, bytes);
          clock.advance(st.advance);
          const c = table.counts();
          expect(c.total).toBeLessThanOrEqual(max);
          expect(c.tcp + c.udp + c.icmp).toBe(c.total);
          const snap = table.snapshot();
          expect(snap.length).toBe(c.total);
          for (const r of snap) expect(r.expiresInMs).toBeGreaterThan(0);
        }
        const s = table.stats;
        expect(s.created - s.destroyed).toBe(table.size);
        // Every entry is on its state's list: all of them time out.
        clock.advance(DEFAULT_TIMEOUTS.tcpEstablished);
        expect(table.size).toBe(0);
        expect(s.packets).toBe(steps.length);
      }),
      { numRuns: 200 },
    );
  });
});
