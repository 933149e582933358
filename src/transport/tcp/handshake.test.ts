/** Handshakes as packet traces: active, passive, simultaneous open; options in replies only when offered. */
import { describe, expect, test } from "bun:test";
import { TCP_ACK, TCP_RST, TCP_SYN } from "../../header/tcp.ts";
import { seqAdd } from "../../seqnum/seqnum.ts";
import {
  ErrConnectionRefused,
  ErrConnectStarted,
  ErrHostUnreachable,
  ErrNetworkUnreachable,
  ErrTimeout,
} from "../../tcpip/errors.ts";
import { EventOut } from "../../waiter/waiter.ts";
import { Pair } from "./testing/pair.ts";
import { LINUX_SYN_OPTIONS, RawPeer } from "./testing/peer.ts";

describe("CLOSED → SYN-SENT (active open)", () => {
  test("connect sends SYN with MSS, SACK_PERM, TS, NOP, WSCALE in Linux's layout", () => {
    const p = new RawPeer();
    const { ep } = p.newEndpoint();
    expect(() => ep.connect({ addr: p.remote, port: 50000 })).toThrow(ErrConnectStarted);
    expect(ep.state).toBe("SYN-SENT");
    const syn = p.next();
    expect(syn.flags).toBe(TCP_SYN);
    expect(syn.options.mss).toBe(1460);
    expect(syn.options.sackPermitted).toBe(true);
    expect(syn.options.timestamp).toBe(true);
    expect(syn.options.tsEcr).toBe(0);
    expect(syn.options.windowScale).toBe(7);
    // kind 2 len 4 | kind 4 len 2 | kind 8 len 10 | NOP | kind 3 len 3
    expect([...syn.optionBytes.subarray(0, 2)]).toEqual([2, 4]);
    expect([...syn.optionBytes.subarray(4, 6)]).toEqual([4, 2]);
    expect([...syn.optionBytes.subarray(6, 8)]).toEqual([8, 10]);
    expect([...syn.optionBytes.subarray(16, 20)]).toEqual([1, 3, 3, 7]);
    expect(syn.optionBytes.length).toBe(20);
  });

  test("SYN-ACK → ESTABLISHED, ACK sent, EventOut and no pending error", () => {
    const p = new RawPeer();
    let events = 0;
    const { ep, wq, iss } = (() => {
      const r = p.connectEndpoint();
      return r;
    })();
    wq.register({ callback: (m) => (events |= m) }, EventOut);
    expect(ep.state).toBe("ESTABLISHED");
    const ack = p.next();
    expect(ack.flags).toBe(TCP_ACK);
    expect(ack.seq).toBe(seqAdd(iss, 1));
    expect(ack.ack).toBe(9001);
    expect(ack.options.timestamp).toBe(true);
    expect(ep.getSockOpt("Error")).toBeUndefined();
    expect(ep.readiness(EventOut)).toBe(EventOut);
    expect(p.stack.stats.tcp.activeConnectionOpenings).toBe(1);
    expect(p.stack.stats.tcp.currentEstablished).toBe(1);
    expect(events).toBe(0);
  });

  test("RST,ACK to SYN → refused, Error option reports ErrConnectionRefused", () => {
    const p = new RawPeer();
    const { ep } = p.newEndpoint();
    expect(() => ep.connect({ addr: p.remote, port: 50000 })).toThrow(ErrConnectStarted);
    const syn = p.next();
    p.localPort = syn.srcPort;
    p.send({ flags: TCP_RST | TCP_ACK, seq: 0, ack: seqAdd(syn.seq, 1), window: 0 });
    expect(ep.state).toBe("CLOSED");
    expect(ep.getSockOpt("Error")).toBeInstanceOf(ErrConnectionRefused);
    expect(ep.readiness(EventOut)).toBe(EventOut);
  });

  test("RST without ACK in SYN-SENT is ignored", () => {
    const p = new RawPeer();
    const { ep } = p.newEndpoint();
    expect(() => ep.connect({ addr: p.remote, port: 50000 })).toThrow(ErrConnectStarted);
    const syn = p.next();
    p.localPort = syn.srcPort;
    p.send({ flags: TCP_RST, seq: 1, window: 0 });
    expect(ep.state).toBe("SYN-SENT");
  });

  test("SYN-ACK with a bad ACK gets <SEQ=SEG.ACK><CTL=RST>", () => {
    const p = new RawPeer();
    const { ep } = p.newEndpoint();
    expect(() => ep.connect({ addr: p.remote, port: 50000 })).toThrow(ErrConnectStarted);
    const syn = p.next();
    p.localPort = syn.srcPort;
    p.send({ flags: TCP_SYN | TCP_ACK, seq: 77, ack: seqAdd(syn.seq, 100), window: 100 });
    const rst = p.next();
    expect(rst.flags).toBe(TCP_RST);
    expect(rst.seq).toBe(seqAdd(syn.seq, 100));
    expect(ep.state).toBe("SYN-SENT");
  });

  test("SYN retransmits with exponential backoff, then ErrTimeout", () => {
    const p = new RawPeer({ tcp: { synRetries: 3 } });
    const { ep } = p.newEndpoint();
    expect(() => ep.connect({ addr: p.remote, port: 50000 })).toThrow(ErrConnectStarted);
    p.next();
    const times: number[] = [];
    for (let i = 0; i < 3; i++) {
      const t0 = p.clock.now();
      while (p.sent.length === 0) p.advance(1);
      times.push(p.clock.now() - t0);
      expect(p.next().flags).toBe(TCP_SYN);
    }
    expect(times).toEqual([1000, 2000, 4000]);
    p.advance(8000);
    expect(ep.state).toBe("CLOSED");
    expect(ep.getSockOpt("Error")).toBeInstanceOf(ErrTimeout);
  });
});

describe("LISTEN → SYN-RECEIVED (passive open)", () => {
  test("SYN with Linux options → SYN-ACK with mss/sackOK/TS/wscale, ACK → accept", () => {
    const p = new RawPeer();
    const { ep, synAck, irs } = p.acceptConnection();
    expect(synAck.ack).toBe(irs + 1);
    expect(synAck.options.mss).toBe(1460);
    expect(synAck.options.sackPermitted).toBe(true);
    expect(synAck.options.timestamp).toBe(true);
    expect(synAck.options.tsEcr).toBe(LINUX_SYN_OPTIONS.tsVal!);
    expect(synAck.options.windowScale).toBe(7);
    expect(ep.state).toBe("ESTABLISHED");
    expect(ep.getRemoteAddress().port).toBe(50000);
    expect(p.stack.stats.tcp.passiveConnectionOpenings).toBe(1);
  });

  test("SYN without options → SYN-ACK with MSS only; peer MSS defaults to 536", () => {
    const p = new RawPeer();
    const { ep, synAck } = p.acceptConnection({});
    expect(synAck.options.mss).toBe(1460);
    expect(synAck.options.sackPermitted).toBe(false);
    expect(synAck.options.timestamp).toBe(false);
    expect(synAck.options.windowScale).toBe(-1);
    expect(synAck.optionBytes.length).toBe(4);
    expect(ep.getSockOpt("MaxSegment")).toBe(536);
  });

  test("MSS is clamped to the route MTU", () => {
    const p = new RawPeer({ mtu: 1000 });
    const { ep, synAck } = p.acceptConnection({ ...LINUX_SYN_OPTIONS, mss: 9000 });
    expect(synAck.options.mss).toBe(980);
    // 980 less 12 bytes of timestamps.
    expect(ep.getSockOpt("MaxSegment")).toBe(968);
  });

  test("a retransmitted SYN gets the SYN-ACK again; SYN-ACK retransmits on its timer", () => {
    const p = new RawPeer();
    const { ep: l } = p.newEndpoint();
    l.bind({ port: 80 });
    l.listen(5);
    p.send({ flags: TCP_SYN, seq: 100, options: LINUX_SYN_OPTIONS });
    const sa = p.next();
    p.send({ flags: TCP_SYN, seq: 100, options: LINUX_SYN_OPTIONS });
    const sa2 = p.next();
    expect(sa2.flags).toBe(TCP_SYN | TCP_ACK);
    expect(sa2.seq).toBe(sa.seq);
    p.advance(1000);
    const sa3 = p.next();
    expect(sa3.flags).toBe(TCP_SYN | TCP_ACK);
    expect(sa3.seq).toBe(sa.seq);
  });

  test("ACK to a listener gets RST <SEQ=SEG.ACK>; segment to a closed port gets RST,ACK", () => {
    const p = new RawPeer();
    const { ep: l } = p.newEndpoint();
    l.bind({ port: 80 });
    l.listen(5);
    p.send({ flags: TCP_ACK, seq: 100, ack: 12345 });
    const r = p.next();
    expect(r.flags).toBe(TCP_RST);
    expect(r.seq).toBe(12345);
    p.send({ flags: TCP_SYN, seq: 100, dstPort: 81 });
    const r2 = p.next();
    expect(r2.flags).toBe(TCP_RST | TCP_ACK);
    expect(r2.seq).toBe(0);
    expect(r2.ack).toBe(101);
    p.send({ flags: TCP_RST, seq: 100, dstPort: 81 });
    p.expectNone();
  });
});

describe("simultaneous open", () => {
  test("SYN crosses SYN: both go SYN-RECEIVED then ESTABLISHED", () => {
    const p = new RawPeer();
    const { ep } = p.newEndpoint();
    expect(() => ep.connect({ addr: p.remote, port: 50000 })).toThrow(ErrConnectStarted);
    const syn = p.next();
    p.localPort = syn.srcPort;
    p.send({ flags: TCP_SYN, seq: 700, options: { ...LINUX_SYN_OPTIONS } });
    expect(ep.state).toBe("SYN-RECEIVED");
    const sa = p.next();
    expect(sa.flags).toBe(TCP_SYN | TCP_ACK);
    expect(sa.seq).toBe(syn.seq);
    expect(sa.ack).toBe(701);
    p.send({
      flags: TCP_SYN | TCP_ACK,
      seq: 700,
      ack: seqAdd(syn.seq, 1),
      options: { ...LINUX_SYN_OPTIONS, tsEcr: sa.options.tsVal },
    });
    // Our SYN-ACK crossed theirs: they ACK ours.
    p.send({
      flags: TCP_ACK,
      seq: 701,
      ack: seqAdd(syn.seq, 1),
      options: { timestamp: true, tsVal: 1001, tsEcr: 1 },
    });
    expect(ep.state).toBe("ESTABLISHED");
  });

  test("two stacks connecting to each other at once", () => {
    const pair = new Pair();
    const { ep: a } = pair.endpoint("a");
    const { ep: b } = pair.endpoint("b");
    a.bind({ port: 1000 });
    b.bind({ port: 2000 });
    expect(() => a.connect({ addr: pair.addrB, port: 2000 })).toThrow(ErrConnectStarted);
    expect(() => b.connect({ addr: pair.addrA, port: 1000 })).toThrow(ErrConnectStarted);
    pair.run(100);
    expect(a.state).toBe("ESTABLISHED");
    expect(b.state).toBe("ESTABLISHED");
    a.write(new TextEncoder().encode("hi"));
    pair.run(100);
    expect(new TextDecoder().decode(b.read().data)).toBe("hi");
  });
});

describe("IPv6", () => {
  test("handshake and data over IPv6 with MSS from the IPv6 route", () => {
    const pair = new Pair({ v6: true });
    const { client, server } = pair.connect();
    client.write(new Uint8Array([1, 2, 3]));
    pair.run(50);
    expect([...server.read().data]).toEqual([1, 2, 3]);
    expect(server.getRemoteAddress().addr?.toString()).toBe("fd00::a");
  });
});

describe("ICMP errors (RFC 1122 §4.2.3.9)", () => {
  test("unreachable while SYN-SENT ends the attempt with the matching error", () => {
    const p = new RawPeer();
    const { ep } = p.newEndpoint();
    expect(() => ep.connect({ addr: p.remote, port: 50000 })).toThrow(ErrConnectStarted);
    ep.handleControlPacket(ep.id, "hostUnreachable", 0);
    expect(ep.state).toBe("CLOSED");
    expect(ep.getSockOpt("Error")).toBeInstanceOf(ErrHostUnreachable);
  });

  test("unreachable on an open connection is a soft error; packet-too-big lowers the MSS", () => {
    const p = new RawPeer();
    const { ep } = p.acceptConnection();
    ep.handleControlPacket(ep.id, "networkUnreachable", 0);
    expect(ep.state).toBe("ESTABLISHED");
    expect(ep.getSockOpt("Error")).toBeInstanceOf(ErrNetworkUnreachable);
    ep.handleControlPacket(ep.id, "packetTooBig", 1280);
    expect(ep.getSockOpt("MaxSegment")).toBe(1280 - 40 - 12);
  });
});
