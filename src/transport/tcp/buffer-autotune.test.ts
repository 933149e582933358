/**
 * Buffer auto-tuning (issue 8): the right-sizing math, the receiver RTT
 * estimate, the per-RTT measurement, the window scale from the maximum, the
 * right edge that never moves left, socket options that lock a direction, the
 * stack-wide limits, and a 1 Gbit/s, 100 ms path filled with default options.
 */
import { describe, expect, test } from "bun:test";
import { TCP_ACK } from "../../header/tcp.ts";
import { bdpBytes } from "../../link/netsim/mathis.ts";
import { ErrInvalidOptionValue } from "../../tcpip/errors.ts";
import { BufferAutoTune, rcvBufferTarget, sndBufferTarget } from "./buffer-autotune.ts";
import type { TcpEndpoint } from "./endpoint.ts";
import {
  DEFAULT_RECEIVE_BUFFER,
  DEFAULT_SEND_BUFFER,
  defaultTcpStackOptions,
  MAX_BUFFER_SIZE,
  type TcpStackOptions,
} from "./protocol-options.ts";
import { timedTransfer } from "./testing/netsim-transfer.ts";
import { bytes, drain, Pair } from "./testing/pair.ts";
import { RawPeer } from "./testing/peer.ts";
import type { SegmentFields } from "./testing/segments.ts";

/** The stack's real buffer defaults (the test harness pins the older fixed ones otherwise). */
const REAL_BUFFERS: Partial<TcpStackOptions> = {
  receiveBufferSize: { ...DEFAULT_RECEIVE_BUFFER },
  sendBufferSize: { ...DEFAULT_SEND_BUFFER },
};

/** Moves `size` bytes client → server over a Pair, reading as data arrives; returns what arrived. */
function pump(pair: Pair, client: TcpEndpoint, server: TcpEndpoint, size: number, seed = 3): Uint8Array {
  const data = bytes(size, seed);
  let off = 0;
  const got: Uint8Array[] = [];
  let n = 0;
  for (let i = 0; i < 20_000 && n < size; i++) {
    while (off < size && client.snd.space > 0) off += client.write(data.subarray(off));
    pair.run(1);
    const d = drain(server);
    got.push(d);
    n += d.length;
  }
  const out = Buffer.concat(got);
  expect(Buffer.compare(out, data)).toBe(0);
  return out;
}

/** Right edges (RCV.NXT + scaled window) of the ACKs `from` sent, in order. */
function rightEdges(trace: SegmentFields[], scale: number): number[] {
  return trace.filter((s) => (s.flags & TCP_ACK) !== 0).map((s) => (s.ack + s.window * 2 ** scale) >>> 0);
}

describe("right-sizing math", () => {
  test("twice the last RTT's bytes, times the growth seen (at most 2), plus four segments", () => {
    // Steady: no growth.
    expect(rcvBufferTarget(100_000, 100_000, 1000)).toBe(204_000);
    // Grew by half: 2 × 150 000 × 1.5.
    expect(rcvBufferTarget(150_000, 100_000, 1000)).toBe(454_000);
    // Slow start doubling, and more than doubling, both count as 2.
    expect(rcvBufferTarget(200_000, 100_000, 1000)).toBe(804_000);
    expect(rcvBufferTarget(500_000, 100_000, 1000)).toBe(2_004_000);
  });

  test("send buffer: twice min(cwnd, largest peer window), at least twice the initial window", () => {
    expect(sndBufferTarget(100_000, 1_000_000, 14_480)).toBe(200_000);
    expect(sndBufferTarget(10_000_000, 1_000_000, 14_480)).toBe(2_000_000);
    expect(sndBufferTarget(1000, 65_535, 14_480)).toBe(28_960);
  });

  test("receiver RTT: the smallest sample wins, larger ones enter by 1/8, window timings only lower it", () => {
    const t = new BufferAutoTune();
    t.rttSample(100, false);
    expect(t.rcvRtt).toBe(100);
    t.rttSample(80, false);
    expect(t.rcvRtt).toBe(80);
    t.rttSample(160, false);
    expect(t.rcvRtt).toBe(90);
    t.rttSample(500, true);
    expect(t.rcvRtt).toBe(90);
    t.rttSample(40, true);
    expect(t.rcvRtt).toBe(40);
    // A millisecond timestamp clock reads a sub-millisecond path as 0: counted as 1 ms.
    t.rttSample(0, false);
    expect(t.rcvRtt).toBe(1);
    t.rttSample(-5, false);
    expect(t.rcvRtt).toBe(1);
  });

  test("window timing without timestamps: one sample when RCV.NXT passes the edge timed", () => {
    const t = new BufferAutoTune();
    t.windowTiming(1000, 5000, 10_000);
    t.windowTiming(1030, 10_000, 10_000);
    expect(t.rcvRtt).toBe(0);
    t.windowTiming(1050, 15_000, 10_000);
    expect(t.rcvRtt).toBe(50);
  });

  test("one measurement per RTT; only a new high per RTT asks for growth", () => {
    const t = new BufferAutoTune();
    expect(t.onRead(1000, 0, 100, 14_480)).toBeUndefined(); // starts the first measurement
    expect(t.onRead(9000, 50, 100, 14_480)).toBeUndefined(); // within the RTT
    // 20 000 bytes in the first RTT beat the initial 14 480.
    expect(t.onRead(10_000, 100, 100, 14_480)).toEqual({ copied: 20_000, prev: 14_480 });
    expect(t.space).toBe(20_000);
    // 15 000 in the next: not a new high, no growth, the high stays.
    expect(t.onRead(15_000, 200, 100, 14_480)).toBeUndefined();
    expect(t.space).toBe(20_000);
    expect(t.onRead(30_000, 300, 100, 14_480)).toEqual({ copied: 30_000, prev: 20_000 });
    // No RTT estimate: no measurement.
    expect(t.onRead(99_000, 900, 0, 14_480)).toBeUndefined();
    expect(t.copied).toBe(164_000);
  });
});

describe("defaults (tcp_rmem / tcp_wmem-like)", () => {
  test("Linux-like minimum and default, larger maxima, scale from the maximum", () => {
    const o = defaultTcpStackOptions();
    expect(o.receiveBufferSize).toEqual({ min: 4096, default: 128 << 10, max: 16 << 20 });
    expect(o.sendBufferSize).toEqual({ min: 4096, default: 16 << 10, max: 16 << 20 });
  });

  test("the SYN-ACK offers the window of the default and the scale of the maximum; the first ACK advertises the default", () => {
    const p = new RawPeer({ tcp: REAL_BUFFERS });
    const { ep, synAck, irs, iss } = p.acceptConnection();
    // RFC 7323 §2.2: the SYN's window is not scaled; 128 KiB does not fit, so 65535.
    expect(synAck.window).toBe(65535);
    // 16 MiB needs shift 9 (RFC 7323 §2.3); a default-sized shift (1) could never grow past 128 KiB.
    expect(synAck.options.windowScale).toBe(9);
    p.send({
      flags: TCP_ACK,
      seq: irs + 1,
      ack: iss + 1,
      payload: bytes(100),
      options: { timestamp: true, tsVal: 1002, tsEcr: 0 },
    });
    p.advance(100);
    expect(p.sent.pop()!.window).toBe(((128 << 10) - 100) >> 9);
    expect(ep.getSockOpt("ReceiveBufferSize")).toBe(128 << 10);
    expect(ep.getSockOpt("SendBufferSize")).toBe(sndBufferTarget(10 * 1448, 65535 << 7, 10 * 1448));
  });

  test("an idle connection's queues hold nothing, whatever the limits", () => {
    const p = new RawPeer({ tcp: REAL_BUFFERS });
    const { ep } = p.acceptConnection();
    expect(ep.rcv.queue.size).toBe(0);
    expect(ep.snd.buf.size).toBe(0);
  });
});

describe("receive auto-tuning between two stacks", () => {
  test("the receive buffer grows with the rate the reader sees, within the maximum; the right edge never moves left", () => {
    const pair = new Pair({ delay: 20, tcp: REAL_BUFFERS });
    const { client, server } = pair.connect();
    const acks: SegmentFields[] = [];
    pair.filter = (seg, from) => {
      if (from === "b") acks.push(seg);
      return undefined;
    };
    pump(pair, client, server, 6 << 20);
    const info = server.tcpInfo();
    expect(server.rcv.bufSize).toBeGreaterThan(DEFAULT_RECEIVE_BUFFER.default);
    expect(server.rcv.bufSize).toBeLessThanOrEqual(DEFAULT_RECEIVE_BUFFER.max);
    expect(info.rcvBuf).toBe(server.rcv.bufSize);
    expect(info.rcvSpace).toBeGreaterThan(0);
    // The receiver measured the 40 ms round trip from timestamps (1 ms clock, delayed ACKs add a little).
    expect(info.rcvRtt).toBeGreaterThanOrEqual(40);
    expect(info.rcvRtt).toBeLessThan(45);
    // RFC 9293 §3.8.6.2.2 / RFC 7323 §2.4: no ACK takes back window offered before.
    const edges = rightEdges(acks, server.rcv.scale);
    for (let i = 1; i < edges.length; i++) expect(((edges[i]! - edges[i - 1]!) | 0) >= 0).toBe(true);
    // The sender's buffer followed its congestion window up.
    expect(client.snd.bufSize).toBeGreaterThan(DEFAULT_SEND_BUFFER.default);
    expect(client.snd.bufSize).toBeLessThanOrEqual(DEFAULT_SEND_BUFFER.max);
    expect(info.sndBuf).toBe(server.snd.bufSize);
  });

  test("without timestamps the RTT comes from timing a window, and the buffer still grows", () => {
    const pair = new Pair({ delay: 20, tcp: { ...REAL_BUFFERS, timestamps: false } });
    const { client, server } = pair.connect();
    pump(pair, client, server, 4 << 20);
    expect(server.rcv.tsEnabled).toBe(false);
    expect(server.autoTune.rcvRtt).toBeGreaterThanOrEqual(40);
    expect(server.rcv.bufSize).toBeGreaterThan(DEFAULT_RECEIVE_BUFFER.default);
  });

  test("a reader that does not keep up does not grow the buffer", () => {
    const pair = new Pair({ delay: 20, tcp: REAL_BUFFERS });
    const { client, server } = pair.connect();
    const data = bytes(2 << 20, 4);
    let off = 0;
    let got = 0;
    for (let i = 0; i < 4000 && got < data.length; i++) {
      while (off < data.length && client.snd.space > 0) off += client.write(data.subarray(off));
      pair.run(1);
      // 4 KB every 10 ms: 3.2 Mbit/s, far below what the path carries.
      if (i % 10 === 0) {
        try {
          got += server.read(4096).data.length;
        } catch {}
      }
    }
    expect(got).toBeGreaterThan(0);
    expect(server.rcv.bufSize).toBe(DEFAULT_RECEIVE_BUFFER.default);
  });

  test("the buffer never outgrows what the window scale can advertise (no scaling: 65535)", () => {
    const small = { min: 4096, default: 16 << 10, max: 16 << 20 };
    const pair = new Pair({
      delay: 20,
      tcp: { ...REAL_BUFFERS, receiveBufferSize: small, windowScaling: false },
    });
    const { client, server } = pair.connect();
    pump(pair, client, server, 2 << 20);
    expect(server.rcv.wsEnabled).toBe(false);
    expect(server.rcv.bufSize).toBeGreaterThan(16 << 10);
    expect(server.rcv.bufSize).toBeLessThanOrEqual(65535);
  });

  test("a new stack-wide maximum bounds the growth of existing connections", () => {
    const pair = new Pair({ delay: 20, tcp: REAL_BUFFERS });
    const { client, server } = pair.connect();
    pair.b.tcp.setOption("receiveBufferSize", { min: 4096, default: 128 << 10, max: 256 << 10 });
    pump(pair, client, server, 4 << 20);
    expect(server.rcv.bufSize).toBe(256 << 10);
  });
});

describe("socket options lock a direction (like SO_RCVBUF / SO_SNDBUF)", () => {
  test("ReceiveBufferSize and SendBufferSize set on an endpoint stop auto-tuning and clamp to [min, max]", () => {
    const pair = new Pair({ delay: 20, tcp: REAL_BUFFERS });
    const { client, server } = pair.connect();
    server.setSockOpt("ReceiveBufferSize", 64 << 10);
    client.setSockOpt("SendBufferSize", 32 << 10);
    pump(pair, client, server, 2 << 20);
    expect(server.getSockOpt("ReceiveBufferSize")).toBe(64 << 10);
    expect(client.getSockOpt("SendBufferSize")).toBe(32 << 10);
    // The other directions still tune.
    expect(client.snd.bufSize).toBe(32 << 10);
    expect(server.snd.bufSize).toBeGreaterThanOrEqual(DEFAULT_SEND_BUFFER.default);
    server.setSockOpt("ReceiveBufferSize", 1 << 30);
    expect(server.getSockOpt("ReceiveBufferSize")).toBe(DEFAULT_RECEIVE_BUFFER.max);
    client.setSockOpt("SendBufferSize", 1);
    expect(client.getSockOpt("SendBufferSize")).toBe(DEFAULT_SEND_BUFFER.min);
  });

  test("a listener's sizes and locks pass to the connections it accepts", () => {
    const pair = new Pair({ delay: 20, tcp: REAL_BUFFERS });
    const { ep: listener } = pair.endpoint("b");
    listener.setSockOpt("ReceiveBufferSize", 64 << 10);
    listener.bind({ port: 80 });
    listener.listen(1);
    const { ep: client } = pair.endpoint("a");
    expect(() => client.connect({ addr: pair.addrB, port: 80 })).toThrow();
    pair.run(100);
    const server = listener.accept().endpoint;
    pump(pair, client, server, 2 << 20);
    expect(server.autoTune.rcvLocked).toBe(true);
    expect(server.rcv.bufSize).toBe(64 << 10);
  });

  test("a smaller buffer set mid-connection never takes back window already advertised", () => {
    const p = new RawPeer();
    const { ep, irs, iss } = p.acceptConnection();
    const ts = (v: number) => ({ timestamp: true, tsVal: v, tsEcr: 0 });
    p.send({ flags: TCP_ACK, seq: irs + 1, ack: iss + 1, payload: bytes(1000), options: ts(1002) });
    p.advance(100);
    const before = p.sent.pop()!;
    const edge = (s: SegmentFields) => (s.ack + s.window * 2 ** ep.rcv.scale) >>> 0;
    expect(before.window).toBeGreaterThan(0);
    ep.setSockOpt("ReceiveBufferSize", 4096);
    p.send({ flags: TCP_ACK, seq: irs + 1001, ack: iss + 1, payload: bytes(1000), options: ts(1003) });
    p.advance(100);
    const after = p.sent.pop()!;
    expect(after.ack).toBe(irs + 2001);
    expect(((edge(after) - edge(before)) | 0) >= 0).toBe(true);
    // Data the old window allowed is still taken (RFC 9293 §3.8.6.2.2: the sender may rely on it).
    p.send({ flags: TCP_ACK, seq: irs + 2001, ack: iss + 1, payload: bytes(5000), options: ts(1004) });
    p.advance(100);
    expect(p.sent.pop()!.ack).toBe(irs + 7001);
    expect(drain(ep).length).toBe(7000);
  });
});

describe("stack-wide buffer options", () => {
  test("setOption takes whole-byte ranges up to the largest window and refuses the rest", () => {
    const p = new RawPeer();
    const tcp = p.stack.tcp;
    tcp.setOption("sendBufferSize", { min: 4096, default: 65536, max: MAX_BUFFER_SIZE });
    expect(tcp.option("sendBufferSize")).toEqual({ min: 4096, default: 65536, max: MAX_BUFFER_SIZE });
    for (const bad of [
      { min: 4096, default: 65536, max: MAX_BUFFER_SIZE + 1 },
      { min: 4096.5, default: 65536, max: 1 << 20 },
      { min: 0, default: 65536, max: 1 << 20 },
      { min: 4096, default: Number.NaN, max: 1 << 20 },
      { min: 4096, default: 65536 },
      "big",
      null,
    ]) {
      expect(() => tcp.setOption("receiveBufferSize", bad)).toThrow(ErrInvalidOptionValue);
    }
    expect(p.stack.tcp.option("receiveBufferSize")).toEqual({ min: 4096, default: 1 << 20, max: 4 << 20 });
  });
});

describe("a long fat path with default options", () => {
  test("100 ms, 1 Gbit/s, CUBIC, no hand-set buffers: steady-state goodput (2.0 s to 2.3 s after the handshake) at least 80% of capacity, byte-exact", () => {
    // Jumbo frames (MTU 9000) keep the packet count, and so the test's real time, six times lower;
    // the tuning works in bytes and RTTs, not packets. The queue holds one bandwidth-delay product.
    const bw = 1_000_000_000;
    const r = timedTransfer({
      seed: 4,
      mtu: 9000,
      path: { bandwidthBps: bw, delayMs: 50, queueBytes: bdpBytes(bw, 100) },
      tcp: { congestionControl: "cubic" },
      warmupMs: 2000,
      measureMs: 300,
    });
    console.log(
      `1 Gbit/s, 100 ms: ${(r.goodputBps / 1e6).toFixed(1)} Mbit/s (${((r.goodputBps / bw) * 100).toFixed(1)}%), receive buffer ${r.rcvBuf}, send buffer ${r.sndBuf}`,
    );
    expect(r.ok).toBe(true);
    expect(r.goodputBps).toBeGreaterThanOrEqual(0.8 * bw);
    // What made it possible: both buffers grew from their defaults to about the path's needs.
    expect(r.rcvBuf).toBeGreaterThan(bdpBytes(bw, 100));
    expect(r.rcvBuf).toBeLessThanOrEqual(DEFAULT_RECEIVE_BUFFER.max);
    expect(r.sndBuf).toBeGreaterThan(bdpBytes(bw, 100));
    expect(r.sndBuf).toBeLessThanOrEqual(DEFAULT_SEND_BUFFER.max);
    expect(r.timeouts).toBe(0);
  }, 60_000);
});
