/** Keep-alive probes (RFC 1122 §4.2.3.6) and their timeout, with and without the user timeout. */
import { describe, expect, test } from "bun:test";
import { TCP_ACK, TCP_RST } from "../../header/tcp.ts";
import { ErrTimeout } from "../../tcpip/errors.ts";
import { RawPeer } from "./testing/peer.ts";

function keepaliveConn(p: RawPeer) {
  const c = p.acceptConnection({ mss: 1000 });
  // Enabled first, then tuned (as services do): the new idle time applies at once.
  c.ep.setSockOpt("KeepaliveEnabled", true);
  c.ep.setSockOpt("KeepaliveIdle", 10_000);
  c.ep.setSockOpt("KeepaliveInterval", 1000);
  c.ep.setSockOpt("KeepaliveCount", 3);
  return c;
}

describe("ESTABLISHED: keep-alive", () => {
  test("after the idle time, probes SEQ=SND.NXT-1; answered probes keep the connection", () => {
    const p = new RawPeer();
    const { ep, irs, iss } = keepaliveConn(p);
    p.advance(9_999);
    p.expectNone();
    p.advance(1);
    const probe = p.next();
    expect(probe.flags).toBe(TCP_ACK);
    expect(probe.seq).toBe(iss);
    expect(probe.payload.length).toBe(0);
    p.send({ flags: TCP_ACK, seq: irs + 1, ack: iss + 1 });
    p.advance(9_000);
    p.expectNone();
    p.advance(1_000);
    expect(p.next().seq).toBe(iss);
    expect(ep.state).toBe("ESTABLISHED");
  });

  test("unanswered probes: RST and ErrTimeout after the count", () => {
    const p = new RawPeer();
    const { ep } = keepaliveConn(p);
    p.advance(10_000 + 3 * 1000);
    expect(p.sent.splice(0, 3).every((s) => s.flags === TCP_ACK)).toBe(true);
    expect(p.next().flags & TCP_RST).toBe(TCP_RST);
    expect(ep.state).toBe("CLOSED");
    expect(ep.getSockOpt("Error")).toBeInstanceOf(ErrTimeout);
    expect(p.stack.stats.tcp.establishedTimedOut).toBe(1);
  });

  test("with a user timeout, keep-alive gives up when it passes", () => {
    const p = new RawPeer();
    const { ep } = keepaliveConn(p);
    ep.setSockOpt("KeepaliveCount", 100);
    ep.setSockOpt("UserTimeout", 12_500);
    p.advance(12_000);
    expect(ep.state).toBe("ESTABLISHED");
    p.advance(1_000);
    expect(ep.state).toBe("CLOSED");
  });

  test("the peer answers our keep-alive probes (as ACKs of old sequence numbers)", () => {
    const p = new RawPeer();
    const { irs, iss } = p.acceptConnection({ mss: 1000 });
    p.send({ flags: TCP_ACK, seq: irs, ack: iss + 1 });
    const a = p.next();
    expect(a.seq).toBe(iss + 1);
    expect(a.ack).toBe(irs + 1);
  });
});
