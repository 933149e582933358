/** RST and SYN handling per state (RFC 9293 §3.10.7.4, RFC 5961 challenge ACKs) and PAWS (RFC 7323 §5). */
import { describe, expect, test } from "bun:test";
import { TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN } from "../../header/tcp.ts";
import { seqAdd } from "../../seqnum/seqnum.ts";
import { ErrConnectionReset } from "../../tcpip/errors.ts";
import { ShutdownFlags } from "../../tcpip/protocols.ts";
import { bytes } from "./testing/pair.ts";
import { LINUX_SYN_OPTIONS, RawPeer } from "./testing/peer.ts";

const NO_TS = { mss: 1000, sackPermitted: true, windowScale: 7 };

describe("ESTABLISHED: RST (RFC 5961 §3.2)", () => {
  test("RST at exactly RCV.NXT resets: ErrConnectionReset", () => {
    const p = new RawPeer();
    const { ep, irs } = p.acceptConnection(NO_TS);
    p.send({ flags: TCP_RST, seq: irs + 1 });
    expect(ep.state).toBe("CLOSED");
    expect(() => ep.read()).toThrow(ErrConnectionReset);
    expect(p.stack.stats.tcp.establishedResets).toBe(1);
    expect(p.stack.stats.tcp.currentEstablished).toBe(0);
  });

  test("RST in the window but not at RCV.NXT gets a challenge ACK", () => {
    const p = new RawPeer();
    const { ep, irs, iss } = p.acceptConnection(NO_TS);
    p.send({ flags: TCP_RST, seq: irs + 1000 });
    expect(ep.state).toBe("ESTABLISHED");
    const c = p.next();
    expect(c.flags).toBe(TCP_ACK);
    expect(c.seq).toBe(iss + 1);
    expect(c.ack).toBe(irs + 1);
    expect(p.stack.stats.tcp.challengeAcksSent).toBe(1);
  });

  test("RST outside the window is dropped silently", () => {
    const p = new RawPeer();
    const { ep, irs } = p.acceptConnection(NO_TS);
    p.send({ flags: TCP_RST, seq: seqAdd(irs, 1 << 30) });
    expect(ep.state).toBe("ESTABLISHED");
    p.expectNone();
  });

  test("SYN in ESTABLISHED gets a challenge ACK, never a reset (RFC 5961 §4.2)", () => {
    const p = new RawPeer();
    const { ep, irs } = p.acceptConnection(NO_TS);
    p.send({ flags: TCP_SYN, seq: irs + 500 });
    expect(ep.state).toBe("ESTABLISHED");
    expect(p.next().flags).toBe(TCP_ACK);
  });

  test("out-of-window data is answered with an ACK", () => {
    const p = new RawPeer();
    const { irs, iss } = p.acceptConnection(NO_TS);
    p.send({ flags: TCP_ACK, seq: seqAdd(irs, 1 << 29), ack: iss + 1, payload: bytes(10) });
    expect(p.next().ack).toBe(irs + 1);
  });
});

describe("RST in other states", () => {
  test("SYN-RECEIVED (passive): RST drops the embryonic connection silently", () => {
    const p = new RawPeer();
    const { ep: l } = p.newEndpoint();
    l.bind({ port: 80 });
    l.listen(5);
    p.send({ flags: TCP_SYN, seq: 100, options: NO_TS });
    p.next();
    expect(l.synQueue.size).toBe(1);
    p.send({ flags: TCP_RST, seq: 101 });
    expect(l.synQueue.size).toBe(0);
    expect(l.state).toBe("LISTEN");
  });

  test("FIN-WAIT-1 and CLOSE-WAIT reset; LAST-ACK closes", () => {
    for (const st of ["FIN-WAIT-1", "CLOSE-WAIT", "LAST-ACK"] as const) {
      const p = new RawPeer();
      const { ep, irs, iss } = p.acceptConnection(NO_TS);
      let rcvNxt = irs + 1;
      if (st === "FIN-WAIT-1") ep.shutdown(ShutdownFlags.Write);
      else {
        p.send({ flags: TCP_FIN | TCP_ACK, seq: irs + 1, ack: iss + 1 });
        rcvNxt++;
        if (st === "LAST-ACK") ep.close();
      }
      expect(ep.state).toBe(st);
      p.send({ flags: TCP_RST, seq: rcvNxt });
      expect(ep.state).toBe("CLOSED");
    }
  });
});

describe("PAWS (RFC 7323 §5)", () => {
  test("a segment with an older timestamp is dropped and ACKed", () => {
    const p = new RawPeer({ tcp: { quickAckSegments: 0 } });
    const { ep, irs, iss } = p.acceptConnection(LINUX_SYN_OPTIONS);
    p.send({
      flags: TCP_ACK,
      seq: irs + 1,
      ack: iss + 1,
      payload: bytes(10),
      options: { timestamp: true, tsVal: 5000, tsEcr: 0 },
    });
    p.advance(100);
    p.sent.length = 0;
    p.send({
      flags: TCP_ACK,
      seq: irs + 11,
      ack: iss + 1,
      payload: bytes(10),
      options: { timestamp: true, tsVal: 4000, tsEcr: 0 },
    });
    const a = p.next();
    expect(a.ack).toBe(irs + 11);
    expect(a.options.tsEcr).toBe(5000);
    expect(ep.rcv.queue.size).toBe(10);
    expect(p.stack.stats.tcp.pawsRejected).toBe(1);
  });

  test("a RST with an old timestamp is still processed (R1 excludes RST)", () => {
    const p = new RawPeer();
    const { ep, irs } = p.acceptConnection(LINUX_SYN_OPTIONS);
    p.send({ flags: TCP_RST, seq: irs + 1, options: { timestamp: true, tsVal: 1, tsEcr: 0 } });
    expect(ep.state).toBe("CLOSED");
  });

  test("timestamps wrap: a TSval past 2^32 is newer", () => {
    const p = new RawPeer({ tcp: { quickAckSegments: 0 } });
    const { ep, irs, iss } = p.acceptConnection({ ...LINUX_SYN_OPTIONS, tsVal: 0xfffffff0 });
    p.send({
      flags: TCP_ACK,
      seq: irs + 1,
      ack: iss + 1,
      payload: bytes(10),
      options: { timestamp: true, tsVal: 5, tsEcr: 0 },
    });
    expect(ep.rcv.queue.size).toBe(10);
    expect(ep.rcv.tsRecent).toBe(5);
  });
});

describe("challenge ACK limit (RFC 5961 §7)", () => {
  test("at most challengeAckLimit per second", () => {
    const p = new RawPeer({ tcp: { challengeAckLimit: 3 } });
    const { ep, irs } = p.acceptConnection(NO_TS);
    for (let i = 0; i < 10; i++) p.send({ flags: TCP_RST, seq: irs + 100 + i });
    expect(p.sent.length).toBe(3);
    p.advance(1000);
    p.send({ flags: TCP_RST, seq: irs + 100 });
    expect(p.sent.length).toBe(4);
    expect(ep.state).toBe("ESTABLISHED");
  });
});

describe("out-of-window ACKs (Linux tcp_invalid_ratelimit)", () => {
  test("pure ACKs below RCV.NXT are answered at most every 500 ms; data is always answered", () => {
    const p = new RawPeer();
    const { irs, iss } = p.acceptConnection(NO_TS);
    for (let i = 0; i < 5; i++) p.send({ flags: TCP_ACK, seq: irs - 10, ack: iss + 1 });
    expect(p.sent.length).toBe(1);
    p.send({ flags: TCP_ACK, seq: irs - 10, ack: iss + 1, payload: bytes(5) });
    expect(p.sent.length).toBe(2);
    p.advance(500);
    p.send({ flags: TCP_ACK, seq: irs - 10, ack: iss + 1 });
    expect(p.sent.length).toBe(3);
  });
});
