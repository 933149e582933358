import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { Address } from "../tcpip/address.ts";
import {
  ErrInvalidOptionValue,
  ErrNoPortAvailable,
  ErrPortInUse,
  ErrUnknownProtocol,
} from "../tcpip/errors.ts";
import {
  TCP_PROTOCOL_NUMBER as TCP,
  UDP_PROTOCOL_NUMBER as UDP,
  IPV4_PROTOCOL_NUMBER as V4,
  IPV6_PROTOCOL_NUMBER as V6,
} from "../tcpip/protocols.ts";
import { SeededRandom } from "../tcpip/random.ts";
import {
  DEFAULT_FIRST_EPHEMERAL,
  DEFAULT_LAST_EPHEMERAL,
  PortManager,
  type ReuseFlags,
} from "./port-manager.ts";

const A = Address.parse("198.18.0.1");
const B = Address.parse("198.18.0.2");
const A6 = Address.parse("fd00::1");
const PEER = Address.parse("198.18.1.1");
const PEER2 = Address.parse("198.18.1.2");
const REUSE_PORT: ReuseFlags = { reusePort: true };
const REUSE_ADDR: ReuseFlags = { reuseAddress: true };

function pm(range?: { first: number; last: number }): PortManager {
  return new PortManager(range ? { random: new SeededRandom(7), range } : { random: new SeededRandom(7) });
}

describe("specific ports", () => {
  test("a port can be reserved once per address", () => {
    const m = pm();
    expect(m.reservePort([V4], TCP, A, 80)).toBe(80);
    expect(() => m.reservePort([V4], TCP, A, 80)).toThrow(ErrPortInUse);
    expect(m.reservePort([V4], TCP, B, 80)).toBe(80);
    expect(m.size).toBe(2);
  });

  test("the error is a typed ErrPortInUse with the seed's message", () => {
    const m = pm();
    m.reservePort([V4], UDP, A, 53);
    let caught: unknown;
    try {
      m.reservePort([V4], UDP, A, 53);
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(ErrPortInUse);
    expect((caught as Error).message).toBe("port is in use");
  });

  test("transport protocols and network protocols have separate port spaces", () => {
    const m = pm();
    m.reservePort([V4], TCP, undefined, 7);
    m.reservePort([V4], UDP, undefined, 7);
    m.reservePort([V6], TCP, undefined, 7);
    expect(m.size).toBe(3);
  });

  test("the wildcard conflicts with every address on the port, and every address with the wildcard", () => {
    const m = pm();
    m.reservePort([V4], TCP, A, 80);
    expect(() => m.reservePort([V4], TCP, undefined, 80)).toThrow(ErrPortInUse);
    expect(() => m.reservePort([V4], TCP, Address.ANY_V4, 80)).toThrow(ErrPortInUse);
    const n = pm();
    n.reservePort([V4], TCP, Address.ANY_V4, 80);
    expect(() => n.reservePort([V4], TCP, A, 80)).toThrow(ErrPortInUse);
    expect(() => n.reservePort([V4], TCP, undefined, 80)).toThrow(ErrPortInUse);
    expect(n.reservePort([V4], TCP, A, 81)).toBe(81);
  });

  test("a failed reservation leaves nothing behind", () => {
    const m = pm();
    m.reservePort([V6], TCP, undefined, 443);
    expect(() => m.reservePort([V4, V6], TCP, undefined, 443)).toThrow(ErrPortInUse);
    expect(m.size).toBe(1);
    expect(m.isPortAvailable([V4], TCP, undefined, 443)).toBe(true);
  });

  test("port numbers outside 0..65535 and unknown protocols are API misuse", () => {
    const m = pm();
    expect(() => m.reservePort([V4], TCP, A, 65536)).toThrow(ErrInvalidOptionValue);
    expect(() => m.reservePort([V4], TCP, A, -1)).toThrow(ErrInvalidOptionValue);
    expect(() => m.reservePort([V4], TCP, A, 1.5)).toThrow(ErrInvalidOptionValue);
    expect(() => m.reservePort([], TCP, A, 80)).toThrow(ErrUnknownProtocol);
    expect(() => m.reservePort([0x10000], TCP, A, 80)).toThrow(ErrUnknownProtocol);
    expect(() => m.reservePort([V4], 256, A, 80)).toThrow(ErrUnknownProtocol);
    expect(() => m.isPortAvailable([V4], TCP, A, 99999)).toThrow(ErrInvalidOptionValue);
  });
});

describe("dual stack", () => {
  test("[IPv4, IPv6] on the wildcard takes the port in both spaces", () => {
    const m = pm();
    m.reservePort([V4, V6], TCP, Address.ANY_V6, 8080);
    expect(m.isPortAvailable([V4], TCP, A, 8080)).toBe(false);
    expect(m.isPortAvailable([V6], TCP, A6, 8080)).toBe(false);
    expect(m.isPortAvailable([V4], UDP, A, 8080)).toBe(true);
    m.releasePort([V4, V6], TCP, Address.ANY_V6, 8080);
    expect(m.isPortAvailable([V4], TCP, A, 8080)).toBe(true);
    expect(m.size).toBe(0);
  });

  test("an IPv4-bound endpoint blocks a dual-stack wildcard bind", () => {
    const m = pm();
    m.reservePort([V4], TCP, A, 22);
    expect(() => m.reservePort([V4, V6], TCP, undefined, 22)).toThrow(ErrPortInUse);
    expect(m.reservePort([V6], TCP, undefined, 22)).toBe(22);
  });

  test("an IPv4-mapped address and its IPv4 address are the same address", () => {
    const mapped = A.toV4Mapped();
    const m = pm();
    m.reservePort([V4], UDP, mapped, 5000);
    expect(() => m.reservePort([V4], UDP, A, 5000)).toThrow(ErrPortInUse);
    m.reservePort([V6], UDP, A, 5001);
    expect(() => m.reservePort([V6], UDP, mapped, 5001)).toThrow(ErrPortInUse);
    expect(m.releasePort([V4], UDP, A, 5000)).toBe(true);
  });
});

describe("ReusePort (SO_REUSEPORT): every binder must set it", () => {
  test("binders that all set it share the port", () => {
    const m = pm();
    for (let i = 0; i < 3; i++) m.reservePort([V4], UDP, A, 9000, REUSE_PORT);
    expect(m.size).toBe(3);
    m.reservePort([V4], UDP, undefined, 9000, REUSE_PORT);
    expect(m.size).toBe(4);
  });

  test("the first binder without it blocks later ones with it, and the other way round", () => {
    const m = pm();
    m.reservePort([V4], TCP, A, 9000);
    expect(() => m.reservePort([V4], TCP, A, 9000, REUSE_PORT)).toThrow(ErrPortInUse);
    const n = pm();
    n.reservePort([V4], TCP, A, 9000, REUSE_PORT);
    expect(() => n.reservePort([V4], TCP, A, 9000)).toThrow(ErrPortInUse);
    expect(() => n.reservePort([V4], TCP, A, 9000, REUSE_ADDR)).toThrow(ErrPortInUse);
  });

  test("identical reservations are counted: the port stays taken until each is released", () => {
    const m = pm();
    m.reservePort([V4], UDP, A, 9000, REUSE_PORT);
    m.reservePort([V4], UDP, A, 9000, REUSE_PORT);
    expect(m.releasePort([V4], UDP, A, 9000, REUSE_PORT)).toBe(true);
    expect(m.isPortAvailable([V4], UDP, A, 9000)).toBe(false);
    expect(m.releasePort([V4], UDP, A, 9000, REUSE_PORT)).toBe(true);
    expect(m.isPortAvailable([V4], UDP, A, 9000)).toBe(true);
    expect(m.releasePort([V4], UDP, A, 9000, REUSE_PORT)).toBe(false);
  });
});

describe("ReuseAddress (SO_REUSEADDR): both set it", () => {
  test("a restarted server rebinds while an old connection holds the port (TIME-WAIT)", () => {
    const m = pm();
    // The old connection, accepted on a listener that had SO_REUSEADDR, still holds 80 in TIME-WAIT.
    m.reservePort([V4], TCP, A, 80, REUSE_ADDR, { addr: PEER, port: 40000 });
    expect(() => m.reservePort([V4], TCP, A, 80)).toThrow(ErrPortInUse);
    expect(m.reservePort([V4], TCP, A, 80, REUSE_ADDR)).toBe(80);
  });

  test("a wildcard and a specific address share the port when both set it", () => {
    const m = pm();
    m.reservePort([V4], UDP, undefined, 5353, REUSE_ADDR);
    expect(m.reservePort([V4], UDP, A, 5353, REUSE_ADDR)).toBe(5353);
    expect(() => m.reservePort([V4], UDP, B, 5353)).toThrow(ErrPortInUse);
  });

  test("one side alone is not enough, and ReusePort does not pair with ReuseAddress", () => {
    const m = pm();
    m.reservePort([V4], UDP, A, 5353, REUSE_ADDR);
    expect(() => m.reservePort([V4], UDP, A, 5353, REUSE_PORT)).toThrow(ErrPortInUse);
    const n = pm();
    n.reservePort([V4], UDP, A, 5353);
    expect(() => n.reservePort([V4], UDP, A, 5353, REUSE_ADDR)).toThrow(ErrPortInUse);
  });

  test("release must name the flags the reservation was made with", () => {
    const m = pm();
    m.reservePort([V4], UDP, A, 5353, REUSE_ADDR);
    expect(m.releasePort([V4], UDP, A, 5353)).toBe(false);
    expect(m.releasePort([V4], UDP, A, 5353, REUSE_ADDR)).toBe(true);
    expect(m.size).toBe(0);
  });
});

describe("connected reservations: the 4-tuple must be unique", () => {
  test("connections to different peers share a local port; to the same peer they do not", () => {
    const m = pm();
    m.reservePort([V4], TCP, A, 40000, {}, { addr: PEER, port: 80 });
    m.reservePort([V4], TCP, A, 40000, {}, { addr: PEER2, port: 80 });
    m.reservePort([V4], TCP, A, 40000, {}, { addr: PEER, port: 81 });
    expect(() => m.reservePort([V4], TCP, A, 40000, {}, { addr: PEER, port: 80 })).toThrow(ErrPortInUse);
    expect(m.size).toBe(3);
    expect(m.releasePort([V4], TCP, A, 40000, {}, { addr: PEER2, port: 80 })).toBe(true);
    expect(m.releasePort([V4], TCP, A, 40000, {}, { addr: PEER2, port: 80 })).toBe(false);
    expect(m.releasePort([V4], TCP, A, 40000)).toBe(false);
  });

  test("a connected reservation conflicts with a bound one, both ways", () => {
    const m = pm();
    m.reservePort([V4], TCP, undefined, 40000);
    expect(() => m.reservePort([V4], TCP, A, 40000, {}, { addr: PEER, port: 80 })).toThrow(ErrPortInUse);
    const n = pm();
    n.reservePort([V4], TCP, A, 40000, {}, { addr: PEER, port: 80 });
    expect(() => n.reservePort([V4], TCP, A, 40000)).toThrow(ErrPortInUse);
  });

  test("a peer spelled IPv4-mapped is the same peer", () => {
    const m = pm();
    m.reservePort([V4, V6], TCP, A, 40000, {}, { addr: PEER, port: 80 });
    expect(() => m.reservePort([V6], TCP, A, 40000, {}, { addr: PEER.toV4Mapped(), port: 80 })).toThrow(
      ErrPortInUse,
    );
  });
});

describe("ephemeral ports (RFC 6056 §3.3.3, Algorithm 3)", () => {
  test("the default range is the seed's 16000-65535", () => {
    expect(pm().ephemeralRange).toEqual({ first: 16000, last: 65535 });
    expect([DEFAULT_FIRST_EPHEMERAL, DEFAULT_LAST_EPHEMERAL]).toEqual([16000, 65535]);
  });

  test("port 0 picks a free port inside the range, never one in use", () => {
    const m = pm({ first: 32768, last: 60999 });
    const seen = new Set<number>();
    for (let i = 0; i < 500; i++) {
      const p = m.reservePort([V4], UDP, undefined, 0);
      expect(p).toBeGreaterThanOrEqual(32768);
      expect(p).toBeLessThanOrEqual(60999);
      expect(seen.has(p)).toBe(false);
      seen.add(p);
    }
  });

  test("successive picks for the same peer walk the range one by one (next_ephemeral++)", () => {
    const m = pm({ first: 1000, last: 1999 });
    const peer = { addr: PEER, port: 80 };
    const p1 = m.reservePort([V4], TCP, A, 0, {}, peer);
    m.releasePort([V4], TCP, A, p1, {}, peer);
    const p2 = m.reservePort([V4], TCP, A, 0, {}, peer);
    expect(p2).toBe(p1 === 1999 ? 1000 : p1 + 1);
  });

  test("the offset depends on the peer and on the secret", () => {
    const m = pm();
    const offsets = new Set<number>();
    for (let port = 1; port <= 50; port++) offsets.add(m.portOffset(TCP, A, { addr: PEER, port }));
    expect(offsets.size).toBe(50);
    expect(m.portOffset(TCP, A, { addr: PEER, port: 80 })).toBe(
      m.portOffset(TCP, A, { addr: PEER, port: 80 }),
    );
    expect(m.portOffset(UDP, A, { addr: PEER, port: 80 })).not.toBe(
      m.portOffset(TCP, A, { addr: PEER, port: 80 }),
    );
    expect(m.portOffset(TCP, undefined)).not.toBe(m.portOffset(TCP, A));
    const other = new PortManager({ random: new SeededRandom(8) });
    expect(other.portOffset(TCP, A, { addr: PEER, port: 80 })).not.toBe(
      m.portOffset(TCP, A, { addr: PEER, port: 80 }),
    );
  });

  test("the same seed gives the same ports", () => {
    const a = pm();
    const b = pm();
    for (let i = 0; i < 20; i++) {
      const peer = { addr: PEER, port: 1000 + i };
      expect(a.reservePort([V4], TCP, A, 0, {}, peer)).toBe(b.reservePort([V4], TCP, A, 0, {}, peer));
    }
  });

  test("a full range throws ErrNoPortAvailable", () => {
    const m = pm({ first: 5000, last: 5003 });
    for (let i = 0; i < 4; i++) m.reservePort([V4], UDP, undefined, 0);
    expect(() => m.reservePort([V4], UDP, undefined, 0)).toThrow(ErrNoPortAvailable);
    expect(m.isPortAvailable([V4], UDP, undefined, 0)).toBe(false);
    m.releasePort([V4], UDP, undefined, 5002);
    expect(m.isPortAvailable([V4], UDP, undefined, 0)).toBe(true);
    expect(m.reservePort([V4], UDP, undefined, 0)).toBe(5002);
  });

  test("ephemeral picks ignore reuse flags: never shared with a bound port", () => {
    const m = pm({ first: 6000, last: 6000 });
    m.reservePort([V4], UDP, undefined, 6000, REUSE_PORT);
    expect(() => m.reservePort([V4], UDP, undefined, 0, REUSE_PORT)).toThrow(ErrNoPortAvailable);
  });

  test("connections to different peers may share one ephemeral port", () => {
    const m = pm({ first: 6000, last: 6000 });
    expect(m.reservePort([V4], TCP, A, 0, {}, { addr: PEER, port: 80 })).toBe(6000);
    expect(m.reservePort([V4], TCP, A, 0, {}, { addr: PEER2, port: 80 })).toBe(6000);
    expect(() => m.reservePort([V4], TCP, A, 0, {}, { addr: PEER, port: 80 })).toThrow(ErrNoPortAvailable);
  });

  test("the range can be changed; bad ranges are refused", () => {
    const m = pm();
    m.setEphemeralRange(32768, 60999);
    expect(m.ephemeralRange).toEqual({ first: 32768, last: 60999 });
    for (const [f, l] of [
      [0, 10],
      [10, 9],
      [1, 65536],
      [1.5, 10],
    ] as const) {
      expect(() => m.setEphemeralRange(f, l)).toThrow(ErrInvalidOptionValue);
    }
    expect(() => new PortManager({ range: { first: 9, last: 8 } })).toThrow(ErrInvalidOptionValue);
    expect(m.ephemeralRange).toEqual({ first: 32768, last: 60999 });
  });

  test("without an injected random the secret comes from Web Crypto", () => {
    const m = new PortManager();
    const p = m.reservePort([V4], UDP, undefined, 0);
    expect(p).toBeGreaterThanOrEqual(16000);
  });
});

describe("pickEphemeralPort(offset, count, tryFn)", () => {
  test("tries first + (offset + i) % size in order, wrapping", () => {
    const m = pm({ first: 100, last: 104 });
    const tried: number[] = [];
    const p = m.pickEphemeralPort(3, 5, (port) => {
      tried.push(port);
      return port === 101;
    });
    expect(p).toBe(101);
    expect(tried).toEqual([103, 104, 100, 101]);
  });

  test("tries at most count ports, and never more than the range holds", () => {
    const m = pm({ first: 100, last: 104 });
    const tried: number[] = [];
    expect(() => m.pickEphemeralPort(0, 2, (p) => tried.push(p) < 0)).toThrow(ErrNoPortAvailable);
    expect(tried).toEqual([100, 101]);
    tried.length = 0;
    expect(() => m.pickEphemeralPort(7, 1000, (p) => tried.push(p) < 0)).toThrow(ErrNoPortAvailable);
    expect(tried).toEqual([102, 103, 104, 100, 101]);
  });

  test("large and negative offsets stay inside the range", () => {
    const m = pm({ first: 100, last: 104 });
    expect(m.pickEphemeralPort(0xffffffff, 1, () => true)).toBe(100 + (0xffffffff % 5));
    expect(m.pickEphemeralPort(-1, 1, () => true)).toBe(104);
  });

  test("pickEphemeralPortAt lets TCP check the 4-tuple itself", () => {
    const m = pm({ first: 100, last: 109 });
    const used = new Set([100, 101, 102, 103, 104, 105, 106, 107, 108]);
    expect(m.pickEphemeralPortAt(m.portOffset(TCP, A), (p) => !used.has(p))).toBe(109);
  });
});

describe("isPortAvailable", () => {
  test("answers without reserving", () => {
    const m = pm();
    expect(m.isPortAvailable([V4], TCP, A, 80)).toBe(true);
    expect(m.isPortAvailable([V4], TCP, A, 80)).toBe(true);
    expect(m.size).toBe(0);
    m.reservePort([V4], TCP, A, 80, REUSE_PORT);
    expect(m.isPortAvailable([V4], TCP, A, 80)).toBe(false);
    expect(m.isPortAvailable([V4], TCP, A, 80, REUSE_PORT)).toBe(true);
    expect(m.isPortAvailable([V4], TCP, B, 80)).toBe(true);
  });
});

describe("model check: the index agrees with the pairwise rule", () => {
  const addrs = [undefined, Address.ANY_V4, A, B, A.toV4Mapped(), A6, Address.ANY_V6];
  const protoSets = [[V4], [V6], [V4, V6]];
  const remotes = [undefined, { addr: PEER, port: 80 }, { addr: PEER2, port: 80 }];
  interface Res {
    np: number[];
    addr: Address | undefined;
    port: number;
    ra: boolean;
    rp: boolean;
    remote: (typeof remotes)[number];
  }
  const isAny = (a: Address | undefined) => !a || a.isUnspecified;
  const norm = (a: Address) => a.toV4Mapped().key;
  const conflicts = (e: Res, n: Res) =>
    e.port === n.port &&
    e.np.some((p) => n.np.includes(p)) &&
    (isAny(e.addr) || isAny(n.addr) || norm(e.addr!) === norm(n.addr!)) &&
    !(e.rp && n.rp) &&
    !(e.ra && n.ra) &&
    !(
      e.remote &&
      n.remote &&
      (norm(e.remote.addr) !== norm(n.remote.addr) || e.remote.port !== n.remote.port)
    );

  const op = fc.record({
    release: fc.boolean(),
    np: fc.constantFrom(...protoSets),
    addr: fc.constantFrom(...addrs),
    port: fc.constantFrom(1, 2),
    ra: fc.boolean(),
    rp: fc.boolean(),
    remote: fc.constantFrom(...remotes),
  });

  test("random reserve/release sequences", () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
        const m = pm();
        const held: Res[] = [];
        for (const o of ops) {
          const flags = { reuseAddress: o.ra, reusePort: o.rp };
          if (o.release && held.length > 0) {
            const r = held.pop()!;
            const ok = m.releasePort(
              r.np,
              TCP,
              r.addr,
              r.port,
              { reuseAddress: r.ra, reusePort: r.rp },
              r.remote,
            );
            expect(ok).toBe(true);
            continue;
          }
          const want = !held.some((e) => conflicts(e, o));
          expect(m.isPortAvailable(o.np, TCP, o.addr, o.port, flags, o.remote)).toBe(want);
          if (want) {
            m.reservePort(o.np, TCP, o.addr, o.port, flags, o.remote);
            held.push(o);
          } else {
            expect(() => m.reservePort(o.np, TCP, o.addr, o.port, flags, o.remote)).toThrow(ErrPortInUse);
          }
          expect(m.size).toBe(held.reduce((n, r) => n + r.np.length, 0));
        }
      }),
      { numRuns: 300 },
    );
  });
});
