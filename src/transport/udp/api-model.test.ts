import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { TcpipError } from "../../tcpip/errors.ts";
import { SockOpt } from "../../tcpip/options.ts";
import { IPV4_PROTOCOL_NUMBER, IPV6_PROTOCOL_NUMBER, UDP_PROTOCOL_NUMBER } from "../../tcpip/protocols.ts";
import { addr, endpoint, twoDualHosts } from "./testing.ts";

const addresses = [
  "198.18.0.1",
  "198.18.0.2",
  "198.18.0.9",
  "255.255.255.255",
  "224.0.0.9",
  "fd00::1",
  "fd00::2",
  "::ffff:198.18.0.2",
  "0.0.0.0",
  "::",
];
const ports = [0, 1, 7, 53, 65535];
const opts = Object.values(SockOpt);
const values: unknown[] = [
  true,
  false,
  0,
  1,
  255,
  256,
  -1,
  1 << 20,
  "x",
  undefined,
  { multicastAddress: addr("224.0.0.9"), nic: 1 },
];

const op = fc.oneof(
  fc.record({
    k: fc.constant("bind" as const),
    a: fc.option(fc.constantFrom(...addresses)),
    p: fc.constantFrom(...ports),
  }),
  fc.record({
    k: fc.constant("connect" as const),
    a: fc.option(fc.constantFrom(...addresses)),
    p: fc.constantFrom(...ports),
  }),
  fc.record({
    k: fc.constant("write" as const),
    a: fc.option(fc.constantFrom(...addresses)),
    p: fc.constantFrom(...ports),
    n: fc.integer({ min: 0, max: 70000 }),
  }),
  fc.record({
    k: fc.constantFrom("read" as const, "peek" as const),
    n: fc.option(fc.integer({ min: 0, max: 100 })),
  }),
  fc.record({ k: fc.constant("shutdown" as const), f: fc.integer({ min: 1, max: 3 }) }),
  fc.record({ k: fc.constant("set" as const), o: fc.constantFrom(...opts), v: fc.constantFrom(...values) }),
  fc.record({ k: fc.constant("get" as const), o: fc.constantFrom(...opts) }),
  fc.record({ k: fc.constant("close" as const) }),
  fc.record({ k: fc.constant("advance" as const), ms: fc.integer({ min: 0, max: 5000 }) }),
);

describe("UDP endpoint API under random use", () => {
  test("every failure is a typed TcpipError; nothing else escapes", () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 40 }), fc.boolean(), (ops, v6) => {
        const h = twoDualHosts();
        const peer = endpoint(h.b, UDP_PROTOCOL_NUMBER, IPV6_PROTOCOL_NUMBER);
        peer.ep.bind({ port: 7 });
        const { ep } = endpoint(h.a, UDP_PROTOCOL_NUMBER, v6 ? IPV6_PROTOCOL_NUMBER : IPV4_PROTOCOL_NUMBER);
        for (const o of ops) {
          try {
            switch (o.k) {
              case "bind":
                ep.bind(o.a ? { addr: addr(o.a), port: o.p } : { port: o.p });
                break;
              case "connect":
                ep.connect(o.a ? { addr: addr(o.a), port: o.p } : { port: o.p });
                break;
              case "write":
                ep.write(new Uint8Array(o.n), o.a ? { to: { addr: addr(o.a), port: o.p } } : {});
                break;
              case "read":
                ep.read(o.n ?? undefined);
                break;
              case "peek":
                ep.peek(o.n ?? undefined);
                break;
              case "shutdown":
                ep.shutdown(o.f);
                break;
              case "set":
                ep.setSockOpt(o.o, o.v);
                break;
              case "get":
                ep.getSockOpt(o.o);
                break;
              case "close":
                ep.close();
                break;
              case "advance":
                h.clock.advance(o.ms);
                break;
            }
          } catch (e) {
            if (!(e instanceof TcpipError)) throw e;
          }
        }
        expect(ep.readiness(0xff) >= 0).toBe(true);
        h.a.close();
        h.b.close();
      }),
      { numRuns: 150 },
    );
  }, 120_000);
});
