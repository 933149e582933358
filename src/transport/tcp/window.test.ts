/** Flow control: window scaling both ways, zero window and persist probes, silly window avoidance. */
import { describe, expect, test } from "bun:test";
import { TCP_ACK } from "../../header/tcp.ts";
import { seqAdd } from "../../seqnum/seqnum.ts";
import { bytes, drain, Pair } from "./testing/pair.ts";
import { LINUX_SYN_OPTIONS, RawPeer } from "./testing/peer.ts";

describe("window scaling (RFC 7323 §2)", () => {
  test("our window is advertised scaled by our shift; SYN windows are not scaled", () => {
    const p = new RawPeer();
    const { ep, synAck, irs, iss } = p.acceptConnection();
    expect(synAck.window).toBe(65535);
    p.send({
      flags: TCP_ACK,
      seq: irs + 1,
      ack: iss + 1,
      payload: bytes(100),
      options: { timestamp: true, tsVal: 1002, tsEcr: 0 },
    });
    p.advance(100);
    const a = p.sent.pop()!;
    // 1 MiB buffer with shift 7.
    expect(a.window).toBe(((1 << 20) - 100) >> 7);
    expect(drain(ep).length).toBe(100);
  });

  test("the peer's window is scaled by its shift", () => {
    const p = new RawPeer();
    const { ep, irs, iss } = p.acceptConnection({ ...LINUX_SYN_OPTIONS, windowScale: 4 });
    p.send({
      flags: TCP_ACK,
      seq: irs + 1,
      ack: iss + 1,
      window: 1000,
      options: { timestamp: true, tsVal: 1002, tsEcr: 0 },
    });
    expect(ep.tcpInfo().sndWnd).toBe(16000);
  });

  test("without the option on both SYNs, no scaling either way", () => {
    const p = new RawPeer();
    const { ep, synAck, irs, iss } = p.acceptConnection({ mss: 1460 });
    expect(synAck.options.windowScale).toBe(-1);
    p.send({ flags: TCP_ACK, seq: irs + 1, ack: iss + 1, window: 1000 });
    expect(ep.tcpInfo().sndWnd).toBe(1000);
  });

  test("a pair moves 4 MB through 2 MB windows with scaling", () => {
    const pair = new Pair({ delay: 20 });
    const { client, server } = pair.connect();
    const data = bytes(4 << 20, 9);
    let off = 0;
    const got: number[] = [];
    let total = 0;
    for (let i = 0; i < 5000 && total < data.length; i++) {
      if (off < data.length) {
        try {
          off += client.write(data.subarray(off));
        } catch {}
      }
      pair.run(2);
      const d = drain(server);
      total += d.length;
      got.push(d.length);
    }
    expect(total).toBe(data.length);
    expect(server.tcpInfo().rcvWnd).toBeGreaterThan(65535);
  });
});

describe("zero window and persist timer (RFC 9293 §3.8.6.1)", () => {
  test("a zero window stops sending; probes back off; opening the window resumes", () => {
    const p = new RawPeer();
    const { ep, irs, iss } = p.acceptConnection({ mss: 1000 });
    ep.write(bytes(3000));
    expect(p.sent.length).toBe(3);
    p.sent.length = 0;
    // The peer acknowledges 1000 bytes and closes its window.
    p.send({ flags: TCP_ACK, seq: irs + 1, ack: iss + 3001, window: 0 });
    ep.write(bytes(500));
    p.expectNone();
    const gaps: number[] = [];
    let last = p.clock.now();
    for (let i = 0; i < 3; i++) {
      while (p.sent.length === 0) p.advance(1);
      const probe = p.next();
      // Linux-style probe: an old sequence number, no data.
      expect(probe.seq).toBe(iss + 3000);
      expect(probe.payload.length).toBe(0);
      gaps.push(p.clock.now() - last);
      last = p.clock.now();
      // The peer answers each probe, still with a zero window.
      p.send({ flags: TCP_ACK, seq: irs + 1, ack: iss + 3001, window: 0 });
    }
    expect(gaps[1]).toBe(2 * gaps[0]!);
    expect(gaps[2]).toBe(2 * gaps[1]!);
    expect(ep.state).toBe("ESTABLISHED");
    p.send({ flags: TCP_ACK, seq: irs + 1, ack: iss + 3001, window: 1000 });
    const d = p.next();
    expect(d.seq).toBe(iss + 3001);
    expect(d.payload.length).toBe(500);
  });

  test("our zero window: data beyond it is dropped and ACKed; reading sends a window update", () => {
    const p = new RawPeer({
      tcp: { quickAckSegments: 100, receiveBufferSize: { min: 1024, default: 4096, max: 4096 } },
    });
    const { ep, irs, iss, synAck } = p.acceptConnection({ mss: 1000 });
    expect(synAck.window).toBe(4096);
    let seq = irs + 1;
    for (let i = 0; i < 5; i++) {
      p.send({ flags: TCP_ACK, seq, ack: iss + 1, payload: bytes(1000) });
      seq += 1000;
    }
    // 4096 bytes fit; the rest of the fifth segment lies beyond the window and is trimmed.
    const acks = p.sent.splice(0);
    expect(acks.map((a) => a.window)).toEqual([3096, 2096, 1096, 96, 0]);
    seq = irs + 1 + 4096;
    expect(acks.at(-1)!.ack).toBe(seq);
    // Zero window probe with one byte at RCV.NXT: not accepted, but ACKed with the window.
    p.send({ flags: TCP_ACK, seq, ack: iss + 1, payload: bytes(1) });
    const a = p.next();
    expect(a.ack).toBe(seq);
    expect(a.window).toBe(0);
    expect(ep.read(100).data.length).toBe(100);
    p.expectNone(); // 100 bytes free is below min(bufSize/2, MSS): no update (receiver SWS avoidance)
    expect(ep.read(3000).data.length).toBe(3000);
    const upd = p.next();
    expect(upd.window).toBe(3100);
  });

  test("sender SWS avoidance: a small usable window is not used until half the max window", () => {
    const p = new RawPeer();
    const { ep, irs, iss } = p.acceptConnection({ mss: 1000 });
    p.send({ flags: TCP_ACK, seq: irs + 1, ack: iss + 1, window: 2000 });
    ep.write(bytes(3000));
    expect(p.sent.splice(0).map((s) => s.payload.length)).toEqual([1000, 1000]);
    // 200 bytes of window: less than half of 2000, so wait.
    p.send({ flags: TCP_ACK, seq: irs + 1, ack: iss + 2001, window: 200 });
    p.expectNone();
    p.send({ flags: TCP_ACK, seq: irs + 1, ack: iss + 2001, window: 1000 });
    expect(p.next().payload.length).toBe(1000);
    expect(seqAdd(iss, 0)).toBe(iss);
  });
});
