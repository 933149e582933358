/** Closing: half-close, simultaneous close, LAST-ACK, FIN-WAIT-2, TIME-WAIT (2MSL, RFC 1337, reuse). */
import { describe, expect, test } from "bun:test";
import { TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN } from "../../header/tcp.ts";
import { seqAdd } from "../../seqnum/seqnum.ts";
import { ErrClosedForReceive, ErrClosedForSend, ErrConnectStarted } from "../../tcpip/errors.ts";
import { ShutdownFlags } from "../../tcpip/protocols.ts";
import { EventHUp, EventIn } from "../../waiter/waiter.ts";
import { bytes, drain, Pair } from "./testing/pair.ts";
import { RawPeer } from "./testing/peer.ts";

describe("half-close", () => {
  test("shutdown(write) sends FIN after data; the other side still sends", () => {
    const pair = new Pair();
    const { client, server } = pair.connect();
    client.write(bytes(3000));
    client.shutdown(ShutdownFlags.Write);
    expect(client.state).toBe("FIN-WAIT-1");
    pair.run(50);
    expect(drain(server)).toEqual(bytes(3000));
    expect(() => server.read()).toThrow(ErrClosedForReceive);
    expect(server.state).toBe("CLOSE-WAIT");
    expect(client.state).toBe("FIN-WAIT-2");
    expect(() => client.write(bytes(1))).toThrow(ErrClosedForSend);
    server.write(bytes(5000, 3));
    pair.run(50);
    expect(drain(client)).toEqual(bytes(5000, 3));
    server.close();
    expect(server.state).toBe("LAST-ACK");
    pair.run(50);
    expect(server.state).toBe("CLOSED");
    expect(client.state).toBe("TIME-WAIT");
    expect(client.readiness(EventIn | EventHUp)).toBe(EventIn | EventHUp);
    pair.run(60_000);
    expect(client.state).toBe("CLOSED");
    expect(pair.a.registeredCount).toBe(0);
  });
});

describe("simultaneous close", () => {
  test("FINs cross: both go CLOSING then TIME-WAIT", () => {
    const pair = new Pair();
    const { client, server } = pair.connect();
    client.close();
    server.close();
    expect(client.state).toBe("FIN-WAIT-1");
    expect(server.state).toBe("FIN-WAIT-1");
    pair.run(6);
    expect(client.state).toBe("CLOSING");
    expect(server.state).toBe("CLOSING");
    pair.run(50);
    expect(client.state).toBe("TIME-WAIT");
    expect(server.state).toBe("TIME-WAIT");
    pair.run(60_000);
    expect(client.state).toBe("CLOSED");
    expect(server.state).toBe("CLOSED");
  });
});

describe("TIME-WAIT", () => {
  function toTimeWait(opts: ConstructorParameters<typeof RawPeer>[0] = {}) {
    const p = new RawPeer(opts);
    const c = p.acceptConnection();
    const { ep, irs, iss } = c;
    ep.close();
    const fin = p.next();
    expect(fin.flags).toBe(TCP_FIN | TCP_ACK);
    const ts = { timestamp: true, tsVal: 2000, tsEcr: fin.options.tsVal };
    p.send({ flags: TCP_FIN | TCP_ACK, seq: irs + 1, ack: seqAdd(iss, 2), options: ts });
    expect(ep.state).toBe("TIME-WAIT");
    const ack = p.next();
    expect(ack.ack).toBe(irs + 2);
    return { p, ...c };
  }

  test("lasts 2MSL (configurable), then the 4-tuple is free", () => {
    const { p, ep } = toTimeWait({ tcp: { timeWaitMs: 10_000 } });
    p.advance(9_999);
    expect(ep.state).toBe("TIME-WAIT");
    p.advance(1);
    expect(ep.state).toBe("CLOSED");
    expect(p.stack.registeredCount).toBe(1); // only the listener
  });

  test("RFC 1337: a RST in TIME-WAIT is ignored", () => {
    const { p, ep, irs } = toTimeWait();
    p.send({ flags: TCP_RST, seq: irs + 2 });
    expect(ep.state).toBe("TIME-WAIT");
    expect(p.stack.stats.tcp.timeWaitAssassinationsBlocked).toBe(1);
  });

  test("a retransmitted FIN is ACKed and restarts 2MSL", () => {
    const { p, ep, irs, iss } = toTimeWait();
    p.advance(50_000);
    p.send({
      flags: TCP_FIN | TCP_ACK,
      seq: irs + 1,
      ack: seqAdd(iss, 2),
      options: { timestamp: true, tsVal: 2001, tsEcr: 0 },
    });
    expect(p.next().ack).toBe(irs + 2);
    p.advance(50_000);
    expect(ep.state).toBe("TIME-WAIT");
    p.advance(10_000);
    expect(ep.state).toBe("CLOSED");
  });

  test("a new SYN with a higher timestamp reopens the 4-tuple with a higher ISN (RFC 6191)", () => {
    const { p, ep, iss } = toTimeWait();
    p.send({
      flags: TCP_SYN,
      seq: 1,
      options: { mss: 1460, timestamp: true, tsVal: 9000, tsEcr: 0, sackPermitted: true, windowScale: 7 },
    });
    expect(ep.state).toBe("CLOSED");
    const sa = p.next();
    expect(sa.flags).toBe(TCP_SYN | TCP_ACK);
    expect(sa.ack).toBe(2);
    expect(seqAdd(sa.seq, 0) - iss > 0 || sa.seq < iss).toBe(true);
    expect(sa.seq).toBe(seqAdd(iss, 2 + 65535 + 2));
  });

  test("an old SYN (lower timestamp) only gets an ACK", () => {
    const { p, ep, irs } = toTimeWait();
    p.send({ flags: TCP_SYN, seq: 1, options: { mss: 1460, timestamp: true, tsVal: 10, tsEcr: 0 } });
    expect(ep.state).toBe("TIME-WAIT");
    expect(p.next().ack).toBe(irs + 2);
  });

  test("active close over a pair: client in TIME-WAIT can connect again from the same port", () => {
    const pair = new Pair({ tcp: { timeWaitMs: 1000 } });
    const { client, server } = pair.connect();
    const port = client.getLocalAddress().port;
    client.close();
    pair.run(20);
    server.close();
    pair.run(20);
    expect(client.state).toBe("TIME-WAIT");
    const { ep: again } = pair.endpoint("a");
    again.setSockOpt("ReuseAddress", true);
    again.bind({ port });
    expect(() => again.connect({ addr: pair.addrB, port: 80 })).toThrow(ErrConnectStarted);
    pair.run(100);
    expect(again.state).toBe("ESTABLISHED");
    expect(client.state).toBe("CLOSED");
  });
});

describe("close", () => {
  test("close with unread data sends RST (RFC 2525 §2.17)", () => {
    const p = new RawPeer();
    const { ep, irs, iss } = p.acceptConnection({ mss: 1000 });
    p.send({ flags: TCP_ACK, seq: irs + 1, ack: iss + 1, payload: bytes(10) });
    p.sent.length = 0;
    ep.close();
    const rst = p.next();
    expect(rst.flags).toBe(TCP_RST | TCP_ACK);
    expect(rst.seq).toBe(iss + 1);
    expect(ep.state).toBe("CLOSED");
  });

  test("Linger 0 makes close abortive: RST instead of FIN", () => {
    const p = new RawPeer();
    const { ep, iss } = p.acceptConnection({ mss: 1000 });
    ep.setSockOpt("Linger", 0);
    expect(ep.getSockOpt("Linger")).toBe(0);
    ep.close();
    const rst = p.next();
    expect(rst.flags).toBe(TCP_RST | TCP_ACK);
    expect(rst.seq).toBe(iss + 1);
    expect(ep.state).toBe("CLOSED");
  });

  test("data arriving after close is answered with RST", () => {
    const p = new RawPeer();
    const { ep, irs, iss } = p.acceptConnection({ mss: 1000 });
    ep.close();
    const fin = p.next();
    p.send({ flags: TCP_ACK, seq: irs + 1, ack: seqAdd(fin.seq, 1), payload: bytes(10) });
    expect(p.next().flags & TCP_RST).toBe(TCP_RST);
    expect(ep.state).toBe("CLOSED");
    expect(iss).toBe(fin.seq - 1);
  });

  test("orphaned FIN-WAIT-2 ends after the FIN timeout", () => {
    const p = new RawPeer({ tcp: { finTimeoutMs: 5000 } });
    const { ep, irs } = p.acceptConnection({ mss: 1000 });
    ep.close();
    const fin = p.next();
    p.send({ flags: TCP_ACK, seq: irs + 1, ack: seqAdd(fin.seq, 1) });
    expect(ep.state).toBe("FIN-WAIT-2");
    p.advance(5000);
    expect(ep.state).toBe("CLOSED");
  });

  test("closing a listener resets queued connections", () => {
    const p = new RawPeer();
    const { listener, ep } = p.acceptConnection();
    p.send({ flags: TCP_SYN, seq: 1, srcPort: 50001 });
    p.sent.length = 0;
    listener.close();
    expect(listener.state).toBe("CLOSED");
    expect(ep.state).toBe("ESTABLISHED");
    expect(p.next().flags & TCP_RST).toBe(TCP_RST);
  });
});

describe("many connections", () => {
  test("200 connections open, exchange data and close; nothing is left after 2MSL", () => {
    const pair = new Pair({ tcp: { timeWaitMs: 2000 } });
    const { ep: l } = pair.endpoint("b");
    l.bind({ port: 80 });
    l.listen(64);
    const clients = [];
    for (let i = 0; i < 200; i++) {
      const { ep: c } = pair.endpoint("a");
      expect(() => c.connect({ addr: pair.addrB, port: 80 })).toThrow(ErrConnectStarted);
      clients.push(c);
    }
    pair.run(20);
    // A connection whose cookie ACK met a full accept queue is known only to the client until it sends:
    // its data segment carries the cookie again (RFC 4987 §3.6), so every client sends a little.
    for (const c of clients) if (c.state === "ESTABLISHED") c.write(bytes(10));
    const servers = [];
    for (let t = 0; t < 1000 && servers.length < 200; t++) {
      pair.run(10);
      for (const c of clients)
        if (c.state === "ESTABLISHED" && c.snd.buf.size === 0 && c.snd.una === c.snd.iss + 1)
          c.write(bytes(10));
      for (;;) {
        try {
          servers.push(l.accept().endpoint);
        } catch {
          break;
        }
      }
    }
    expect(servers.length).toBe(200);
    expect(pair.b.stats.tcp.listenOverflowSynDrop + pair.b.stats.tcp.synCookiesSent).toBeGreaterThan(0);
    for (const s of servers) {
      expect(drain(s)).toEqual(bytes(10));
      s.write(bytes(100));
      s.close();
    }
    pair.run(100);
    for (const c of clients) {
      expect(drain(c)).toEqual(bytes(100));
      c.close();
    }
    pair.run(100);
    expect(pair.a.stats.tcp.currentEstablished).toBe(0);
    expect(pair.b.stats.tcp.currentEstablished).toBe(0);
    pair.run(5000);
    expect(pair.a.registeredCount).toBe(0);
    expect(pair.b.registeredCount).toBe(1);
    expect(clients.every((c) => c.state === "CLOSED")).toBe(true);
  });
});
