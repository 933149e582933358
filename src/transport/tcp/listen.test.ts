/** LISTEN: backlog (SYN queue, accept queue) and SYN cookies (RFC 4987 §3.6). */
import { describe, expect, test } from "bun:test";
import { TCP_ACK, TCP_SYN } from "../../header/tcp.ts";
import { seqAdd } from "../../seqnum/seqnum.ts";
import { Address } from "../../tcpip/address.ts";
import { ErrWouldBlock } from "../../tcpip/errors.ts";
import { SeededRandom } from "../../tcpip/random.ts";
import { SynCookies } from "./syn-cookies.ts";
import { bytes, drain } from "./testing/pair.ts";
import { LINUX_SYN_OPTIONS, RawPeer } from "./testing/peer.ts";

function listener(p: RawPeer, backlog: number) {
  const { ep } = p.newEndpoint();
  ep.bind({ port: 80 });
  ep.listen(backlog);
  return ep;
}

describe("LISTEN: backlog", () => {
  test("accept throws ErrWouldBlock until a connection is ready", () => {
    const p = new RawPeer();
    const l = listener(p, 5);
    expect(() => l.accept()).toThrow(ErrWouldBlock);
  });

  test("a full accept queue drops new SYNs and final ACKs (Linux behaviour)", () => {
    const p = new RawPeer({ tcp: { synCookies: false } });
    const l = listener(p, 1);
    p.send({ flags: TCP_SYN, seq: 100, srcPort: 1001 });
    const sa1 = p.next();
    p.send({ flags: TCP_ACK, seq: 101, ack: seqAdd(sa1.seq, 1), srcPort: 1001 });
    expect(l.acceptQueue.length).toBe(1);
    p.send({ flags: TCP_SYN, seq: 200, srcPort: 1002 });
    p.expectNone();
    expect(p.stack.stats.tcp.listenOverflowSynDrop).toBe(1);
    l.accept();
    // Room again: the retransmitted SYN gets through.
    p.send({ flags: TCP_SYN, seq: 200, srcPort: 1002 });
    expect(p.next().flags).toBe(TCP_SYN | TCP_ACK);
  });

  test("a full SYN queue without cookies drops SYNs", () => {
    const p = new RawPeer({ tcp: { synCookies: false } });
    const l = listener(p, 1);
    p.send({ flags: TCP_SYN, seq: 100, srcPort: 1001 });
    p.next();
    p.send({ flags: TCP_SYN, seq: 200, srcPort: 1002 });
    p.expectNone();
    expect(l.synQueue.size).toBe(1);
  });

  test("SYN-ACK retransmissions end: the embryonic connection is dropped", () => {
    const p = new RawPeer({ tcp: { synAckRetries: 2 } });
    const l = listener(p, 1);
    p.send({ flags: TCP_SYN, seq: 100, srcPort: 1001 });
    p.advance(1000 + 2000 + 4000);
    expect(p.sent.length).toBe(3);
    expect(l.synQueue.size).toBe(0);
    expect(p.stack.registeredCount).toBe(1);
  });
});

describe("LISTEN: SYN cookies", () => {
  test("SYN queue overflow → cookie SYN-ACK; its ACK makes a connection with the options back", () => {
    const p = new RawPeer();
    const l = listener(p, 1);
    p.send({ flags: TCP_SYN, seq: 100, srcPort: 1001 });
    p.next();
    p.send({ flags: TCP_SYN, seq: 5000, srcPort: 1002, options: { ...LINUX_SYN_OPTIONS, windowScale: 5 } });
    const sa = p.next();
    expect(sa.flags).toBe(TCP_SYN | TCP_ACK);
    expect(sa.ack).toBe(5001);
    expect(sa.options.mss).toBe(1460);
    expect(sa.options.windowScale).toBe(7);
    expect(sa.options.sackPermitted).toBe(true);
    expect(sa.options.tsEcr).toBe(1000);
    expect(p.stack.stats.tcp.synCookiesSent).toBe(1);
    expect(l.synQueue.size).toBe(1);
    p.send({
      flags: TCP_ACK,
      seq: 5001,
      ack: seqAdd(sa.seq, 1),
      srcPort: 1002,
      window: 100,
      payload: bytes(20),
      options: { timestamp: true, tsVal: 1001, tsEcr: sa.options.tsVal },
    });
    expect(p.stack.stats.tcp.synCookiesValid).toBe(1);
    const { endpoint } = l.accept();
    expect(endpoint.state).toBe("ESTABLISHED");
    expect(endpoint.tcpInfo().sndWnd).toBe(100 << 5);
    expect(endpoint.rcv.sackEnabled).toBe(true);
    expect(endpoint.getSockOpt("MaxSegment")).toBe(1460 - 12);
    expect(drain(endpoint)).toEqual(bytes(20));
  });

  test("a forged or stale cookie ACK gets a RST", () => {
    const p = new RawPeer();
    const l = listener(p, 1);
    p.send({ flags: TCP_SYN, seq: 100, srcPort: 1001 });
    p.next();
    p.send({ flags: TCP_SYN, seq: 5000, srcPort: 1002 });
    const sa = p.next();
    p.send({ flags: TCP_ACK, seq: 5001, ack: seqAdd(sa.seq, 1 + 0x1000), srcPort: 1002 });
    expect(p.next().flags).toBe(4);
    p.advance(4 * 64_000);
    p.sent.length = 0;
    p.send({ flags: TCP_ACK, seq: 5001, ack: seqAdd(sa.seq, 1), srcPort: 1002 });
    expect(p.next().flags).toBe(4);
    expect(l.acceptQueue.length).toBe(0);
  });

  test("cookie encode/check round trip and MSS table", () => {
    const c = new SynCookies(new SeededRandom(3));
    const a = Address.parse("198.18.0.1");
    const b = Address.parse("198.18.0.2");
    const isn = c.make(a, 80, b, 1234, 777, 1400, 10_000);
    expect(c.check(a, 80, b, 1234, isn, 777, 10_000)).toBe(1300);
    expect(c.check(a, 80, b, 1235, isn, 777, 10_000)).toBe(0);
    expect(c.check(a, 80, b, 1234, isn, 777, 10_000 + 64_000 * 2)).toBe(1300);
    expect(c.check(a, 80, b, 1234, isn, 777, 10_000 + 64_000 * 3)).toBe(0);
    const ts = SynCookies.encodeTimestamp(123456, 7, true);
    expect(ts).toBeLessThanOrEqual(123456);
    expect(SynCookies.decodeTimestamp(ts)).toEqual({ windowScale: 7, sackPermitted: true });
  });
});
