import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import {
  encodeTcp,
  encodeTcpOptions,
  newTcpOptions,
  parseTcpOptions,
  TCP_MAX_SIZE,
  TCP_OPTIONS_OFFSET,
  TcpHeader,
} from "../header/tcp.ts";
import {
  FLAG_ACK,
  FLAG_FIN,
  FLAG_RST,
  FLAG_SYN,
  type Result,
  ResultAlive,
  ResultClosedByPeer,
  ResultClosedBySelf,
  ResultConnecting,
  ResultDrop,
  ResultReset,
  STREAM_CLOSED,
  STREAM_ESTABLISHED,
  STREAM_FIN_SENT,
  Tcb,
  type TcpSegment,
} from "./tcb.ts";

const SYN = FLAG_SYN;
const ACK = FLAG_ACK;
const FIN = FLAG_FIN;
const RST = FLAG_RST;

/** Client (originator) and server (responder) initial sequence numbers. */
const A = 1_000;
const B = 900_000;

/**
 * A segment as the tracker gets it: encoded with the header encoders, then read back through the
 * `TcpHeader` view and `parseTcpOptions`, so the tests go through real bytes.
 */
function seg(
  flags: number,
  seq: number,
  ack = 0,
  opts: { len?: number; win?: number; ws?: number } = {},
): TcpSegment {
  const len = opts.len ?? 0;
  const b = new Uint8Array(TCP_MAX_SIZE + len);
  const optLen =
    opts.ws !== undefined ? encodeTcpOptions(b, TCP_OPTIONS_OFFSET, { windowScale: opts.ws }) : 0;
  const hlen = encodeTcp(b, 0, {
    srcPort: 40000,
    dstPort: 80,
    seq: seq >>> 0,
    ack: ack >>> 0,
    flags,
    window: opts.win ?? 65535,
    optionsLength: optLen,
  });
  const h = new TcpHeader(b, 0);
  expect(h.isValid(hlen + len)).toBe(true);
  const o = parseTcpOptions(b, h.optionsOffset, h.optionsLength, newTcpOptions());
  return {
    flags: h.flags,
    seq: h.sequenceNumber,
    ack: h.ackNumber,
    payloadLength: hlen + len - h.dataOffset,
    window: h.windowSize,
    windowScale: o.windowScale,
  };
}

/** A trace: `c(...)` is a segment from the client (original direction), `s(...)` from the server. */
function trace(t = new Tcb()) {
  return {
    t,
    c: (s: TcpSegment): Result => t.updateOriginal(s),
    s: (s: TcpSegment): Result => t.updateReply(s),
  };
}

/** A connection through the three-way handshake (RFC 9293 §3.5 Figure 6). */
function established(opts: { cws?: number; sws?: number; a?: number; b?: number } = {}) {
  const a = opts.a ?? A;
  const b = opts.b ?? B;
  const tr = trace();
  expect(tr.t.init(seg(SYN, a, 0, { ws: opts.cws ?? -1 }))).toBe(ResultConnecting);
  expect(tr.s(seg(SYN | ACK, b, a + 1, { ws: opts.sws ?? -1 }))).toBe(ResultConnecting);
  expect(tr.c(seg(ACK, a + 1, b + 1))).toBe(ResultAlive);
  expect(tr.t.stateName).toBe("established");
  return tr;
}

describe("init", () => {
  test("a SYN starts tracking in syn_sent", () => {
    const t = new Tcb();
    expect(t.init(seg(SYN, A))).toBe(ResultConnecting);
    expect(t.stateName).toBe("syn_sent");
    expect(t.result).toBe(ResultConnecting);
  });

  test("anything but a bare SYN is not a connection start", () => {
    expect(new Tcb().init(seg(ACK, A, 5))).toBe(ResultDrop);
    expect(new Tcb().init(seg(SYN | ACK, A, 5))).toBe(ResultDrop);
    expect(new Tcb().init(seg(SYN | RST, A))).toBe(ResultDrop);
    expect(new Tcb().init(seg(FIN, A))).toBe(ResultDrop);
  });
});

describe("syn_sent", () => {
  test("client retransmits its SYN: still connecting", () => {
    const { t, c } = trace();
    t.init(seg(SYN, A));
    expect(c(seg(SYN, A))).toBe(ResultConnecting);
    expect(t.stateName).toBe("syn_sent");
  });

  test("client sends a SYN with a new ISN: tracking restarts from it", () => {
    const { t, c, s } = trace();
    t.init(seg(SYN, A));
    expect(c(seg(SYN, A + 77_777))).toBe(ResultConnecting);
    expect(t.original.iss).toBe(A + 77_777);
    // The SYN-ACK for the old ISN no longer fits.
    expect(s(seg(SYN | ACK, B, A + 1))).toBe(ResultDrop);
    expect(s(seg(SYN | ACK, B, A + 77_778))).toBe(ResultConnecting);
  });

  test("SYN-ACK moves to syn_recv", () => {
    const { t, s } = trace();
    t.init(seg(SYN, A));
    expect(s(seg(SYN | ACK, B, A + 1))).toBe(ResultConnecting);
    expect(t.stateName).toBe("syn_recv");
    expect(t.original.state).toBe(STREAM_ESTABLISHED);
  });

  test("RFC 9293 §3.10.7.3: a SYN-ACK whose ACK is not ISS+1 is dropped", () => {
    const { t, s } = trace();
    t.init(seg(SYN, A));
    expect(s(seg(SYN | ACK, B, A))).toBe(ResultDrop);
    expect(s(seg(SYN | ACK, B, A + 2))).toBe(ResultDrop);
    expect(t.stateName).toBe("syn_sent");
  });

  test("connection refused: RST+ACK acknowledging the SYN resets", () => {
    const { t, s } = trace();
    t.init(seg(SYN, A));
    expect(s(seg(RST | ACK, 0, A + 1))).toBe(ResultReset);
    expect(t.stateName).toBe("close");
  });

  test("RFC 9293 §3.10.7.3: an RST without ACK, or with a wrong ACK, is dropped", () => {
    const { t, s } = trace();
    t.init(seg(SYN, A));
    expect(s(seg(RST, 0))).toBe(ResultDrop);
    expect(s(seg(RST | ACK, 0, A + 5))).toBe(ResultDrop);
    expect(t.stateName).toBe("syn_sent");
  });

  test("client aborts with RST: reset", () => {
    const { t, c } = trace();
    t.init(seg(SYN, A));
    expect(c(seg(RST, A + 1))).toBe(ResultReset);
    expect(t.stateName).toBe("close");
  });

  test("client RST with a wrong sequence number is dropped", () => {
    const { t, c } = trace();
    t.init(seg(SYN, A));
    expect(c(seg(RST, A + 5000))).toBe(ResultDrop);
    expect(t.stateName).toBe("syn_sent");
  });

  test("data before the handshake, from either side, is dropped", () => {
    const { t, c, s } = trace();
    t.init(seg(SYN, A));
    expect(c(seg(ACK, A + 1, B + 1, { len: 10 }))).toBe(ResultDrop);
    expect(s(seg(ACK, B + 1, A + 1, { len: 10 }))).toBe(ResultDrop);
    expect(t.stateName).toBe("syn_sent");
  });
});

describe("syn_recv", () => {
  function synRecv() {
    const tr = trace();
    tr.t.init(seg(SYN, A));
    tr.s(seg(SYN | ACK, B, A + 1));
    return tr;
  }

  test("the final ACK establishes the connection", () => {
    const { t, c } = synRecv();
    expect(c(seg(ACK, A + 1, B + 1))).toBe(ResultAlive);
    expect(t.stateName).toBe("established");
    expect(t.reply.state).toBe(STREAM_ESTABLISHED);
  });

  test("the final ACK may carry data", () => {
    const { t, c } = synRecv();
    expect(c(seg(ACK, A + 1, B + 1, { len: 100 }))).toBe(ResultAlive);
    expect(t.original.nxt).toBe(A + 101);
  });

  test("retransmitted SYN-ACK and retransmitted SYN keep connecting", () => {
    const { t, c, s } = synRecv();
    expect(s(seg(SYN | ACK, B, A + 1))).toBe(ResultConnecting);
    expect(c(seg(SYN, A))).toBe(ResultConnecting);
    expect(t.stateName).toBe("syn_recv");
  });

  test("a SYN-ACK with another ISN is dropped", () => {
    const { t, s } = synRecv();
    expect(s(seg(SYN | ACK, B + 5, A + 1))).toBe(ResultDrop);
    expect(t.stateName).toBe("syn_recv");
  });

  test("an ACK of data never sent is dropped (RFC 9293 §3.10.7.4)", () => {
    const { t, c } = synRecv();
    expect(c(seg(ACK, A + 1, B + 2))).toBe(ResultDrop);
    expect(t.stateName).toBe("syn_recv");
  });

  test("the client answers the SYN-ACK with RST: reset", () => {
    const { t, c } = synRecv();
    expect(c(seg(RST, A + 1))).toBe(ResultReset);
    expect(t.stateName).toBe("close");
  });

  test("the server aborts after its SYN-ACK: reset", () => {
    const { t, s } = synRecv();
    expect(s(seg(RST | ACK, B + 1, A + 1))).toBe(ResultReset);
    expect(t.stateName).toBe("close");
  });

  test("an RST with a blind sequence number does not kill the entry", () => {
    const { t, c } = synRecv();
    expect(c(seg(RST, A + 40_000))).toBe(ResultDrop);
    expect(t.stateName).toBe("syn_recv");
    expect(c(seg(ACK, A + 1, B + 1))).toBe(ResultAlive);
  });
});

describe("simultaneous open (RFC 9293 §3.5 Figure 7)", () => {
  test("SYN, SYN, then a SYN-ACK each way", () => {
    const { t, c, s } = trace();
    t.init(seg(SYN, A));
    expect(s(seg(SYN, B))).toBe(ResultConnecting);
    expect(t.stateName).toBe("syn_sent2");
    expect(s(seg(SYN | ACK, B, A + 1))).toBe(ResultConnecting);
    expect(t.stateName).toBe("syn_recv");
    expect(c(seg(SYN | ACK, A, B + 1))).toBe(ResultAlive);
    expect(t.stateName).toBe("established");
    expect(c(seg(ACK, A + 1, B + 1, { len: 5 }))).toBe(ResultAlive);
    expect(s(seg(ACK, B + 1, A + 6, { len: 5 }))).toBe(ResultAlive);
  });

  test("a retransmitted SYN from the responder stays in syn_sent2", () => {
    const { t, s } = trace();
    t.init(seg(SYN, A));
    s(seg(SYN, B));
    expect(s(seg(SYN, B))).toBe(ResultConnecting);
    expect(t.stateName).toBe("syn_sent2");
  });
});

describe("established", () => {
  test("data and acknowledgments both ways", () => {
    const { t, c, s } = established();
    expect(c(seg(ACK, A + 1, B + 1, { len: 1000 }))).toBe(ResultAlive);
    expect(s(seg(ACK, B + 1, A + 1001, { len: 500 }))).toBe(ResultAlive);
    expect(c(seg(ACK, A + 1001, B + 501))).toBe(ResultAlive);
    expect(t.original.nxt).toBe(A + 1001);
    expect(t.reply.nxt).toBe(B + 501);
    expect(t.original.ackSent).toBe(B + 501);
  });

  test("a retransmission of data already acknowledged is fine", () => {
    const { c, s } = established();
    c(seg(ACK, A + 1, B + 1, { len: 1000 }));
    s(seg(ACK, B + 1, A + 1001));
    expect(c(seg(ACK, A + 1, B + 1, { len: 1000 }))).toBe(ResultAlive);
  });

  test("data starting beyond the receiver's window is dropped", () => {
    const { t, c } = established();
    // The server's SYN-ACK advertised 65535 bytes from A+1.
    expect(c(seg(ACK, A + 1 + 65535, B + 1, { len: 1 }))).toBe(ResultAlive);
    expect(c(seg(ACK, A + 1 + 65536, B + 1, { len: 1 }))).toBe(ResultDrop);
    expect(c(seg(ACK, A + 1 + 200_000, B + 1, { len: 100 }))).toBe(ResultDrop);
    expect(t.original.nxt).toBe(A + 1 + 65536);
  });

  test("data ending more than a window before what was sent is dropped", () => {
    const { c, s } = established();
    for (let off = 0; off < 200_000; off += 50_000) {
      expect(c(seg(ACK, A + 1 + off, B + 1, { len: 50_000 }))).toBe(ResultAlive);
      expect(s(seg(ACK, B + 1, A + 1 + off + 50_000))).toBe(ResultAlive);
    }
    expect(c(seg(ACK, A + 1, B + 1, { len: 100 }))).toBe(ResultDrop);
  });

  test("a zero-window probe at the right edge is accepted", () => {
    const { c, s } = established();
    c(seg(ACK, A + 1, B + 1, { len: 1000 }));
    expect(s(seg(ACK, B + 1, A + 1001, { win: 0 }))).toBe(ResultAlive);
    expect(c(seg(ACK, A + 1001 + 64535, B + 1, { len: 1 }))).toBe(ResultAlive);
  });

  test("an ACK of data not yet sent is dropped (RFC 9293 §3.10.7.4)", () => {
    const { c, s } = established();
    c(seg(ACK, A + 1, B + 1, { len: 100 }));
    expect(s(seg(ACK, B + 1, A + 102))).toBe(ResultDrop);
    expect(s(seg(ACK, B + 1, A + 101))).toBe(ResultAlive);
  });

  test("an ACK older than one window before SND.UNA is dropped (RFC 5961 §5.2)", () => {
    const { c, s } = established();
    for (let off = 0; off < 200_000; off += 50_000) {
      c(seg(ACK, A + 1 + off, B + 1, { len: 50_000 }));
      s(seg(ACK, B + 1, A + 1 + off + 50_000));
    }
    expect(s(seg(ACK, B + 1, A + 1))).toBe(ResultDrop);
    expect(s(seg(ACK, B + 1, A + 200_001 - 60_000))).toBe(ResultAlive);
  });

  test("a segment without ACK is dropped (RFC 9293 §3.10.7.4)", () => {
    const { c } = established();
    expect(c(seg(0, A + 1, 0, { len: 10 }))).toBe(ResultDrop);
  });

  test("a SYN is dropped and the connection stays (RFC 5961 §4.2)", () => {
    const { t, c, s } = established();
    expect(c(seg(SYN, A + 1))).toBe(ResultDrop);
    expect(s(seg(SYN | ACK, B, A + 1))).toBe(ResultDrop);
    expect(t.stateName).toBe("established");
  });

  test("an RST at RCV.NXT resets", () => {
    const { t, c, s } = established();
    c(seg(ACK, A + 1, B + 1, { len: 100 }));
    s(seg(ACK, B + 1, A + 101));
    expect(c(seg(RST, A + 101))).toBe(ResultReset);
    expect(t.stateName).toBe("close");
    expect(t.result).toBe(ResultReset);
  });

  test("an RST from the server at its SND.NXT resets", () => {
    const { t, s } = established();
    expect(s(seg(RST | ACK, B + 1, A + 1))).toBe(ResultReset);
    expect(t.stateName).toBe("close");
  });

  test("RFC 5961 §3.2: an in-window RST off RCV.NXT is ignored, then the exact one resets", () => {
    const { t, c } = established();
    expect(c(seg(RST, A + 500))).toBe(ResultDrop);
    expect(t.stateName).toBe("established");
    expect(c(seg(RST, A + 1))).toBe(ResultReset);
  });

  test("an RST out of the window does not kill the entry", () => {
    const { t, c, s } = established();
    expect(c(seg(RST, A + 10_000_000))).toBe(ResultDrop);
    expect(s(seg(RST, B - 100_000))).toBe(ResultDrop);
    expect(t.stateName).toBe("established");
    expect(c(seg(ACK, A + 1, B + 1, { len: 1 }))).toBe(ResultAlive);
  });

  test("sequence numbers wrap at 2**32", () => {
    const a = 0xffff_fff0;
    const { t, c, s } = established({ a });
    expect(c(seg(ACK, a + 1, B + 1, { len: 100 }))).toBe(ResultAlive);
    expect(t.original.nxt).toBe((a + 101) >>> 0);
    expect(s(seg(ACK, B + 1, a + 101))).toBe(ResultAlive);
    expect(c(seg(ACK | FIN, a + 101, B + 1))).toBe(ResultAlive);
    expect(s(seg(ACK | FIN, B + 1, a + 102))).toBe(ResultAlive);
    expect(c(seg(ACK, a + 102, B + 2))).toBe(ResultClosedBySelf);
  });
});

describe("window scaling (RFC 7323 §2.2)", () => {
  test("both SYNs carry the option: windows are scaled after the SYNs", () => {
    const { t, c, s } = established({ cws: 7, sws: 9 });
    expect(t.original.scale).toBe(7);
    expect(t.reply.scale).toBe(9);
    // The server advertises 1000 << 9 = 512000 bytes.
    expect(s(seg(ACK, B + 1, A + 1, { win: 1000 }))).toBe(ResultAlive);
    expect(c(seg(ACK, A + 1 + 400_000, B + 1, { len: 1000 }))).toBe(ResultAlive);
    expect(c(seg(ACK, A + 1 + 600_000, B + 1, { len: 1000 }))).toBe(ResultDrop);
  });

  test("only the client offers it: no scaling either way", () => {
    const { t, c, s } = established({ cws: 7 });
    expect(t.original.scale).toBe(0);
    expect(t.reply.scale).toBe(0);
    s(seg(ACK, B + 1, A + 1, { win: 1000 }));
    expect(c(seg(ACK, A + 1 + 400_000, B + 1, { len: 1000 }))).toBe(ResultDrop);
  });

  test("only the server offers it: no scaling either way", () => {
    const { t, c } = established({ sws: 7 });
    expect(t.original.scale).toBe(0);
    expect(t.reply.scale).toBe(0);
    expect(c(seg(ACK, A + 1 + 100_000, B + 1, { len: 1 }))).toBe(ResultDrop);
  });

  test("the SYN-ACK's own window is not scaled", () => {
    const { c } = established({ cws: 7, sws: 7 });
    // SYN-ACK window 65535 is taken as is, not 65535 << 7.
    expect(c(seg(ACK, A + 1 + 100_000, B + 1, { len: 1 }))).toBe(ResultDrop);
  });

  test("RFC 7323 §2.3: a shift above 14 counts as 14", () => {
    const { t } = established({ cws: 20, sws: 14 });
    expect(t.original.scale).toBe(14);
    expect(t.reply.scale).toBe(14);
  });
});

describe("closing (RFC 9293 §3.6)", () => {
  test("client closes first: fin_wait, close_wait, last_ack, time_wait", () => {
    const { t, c, s } = established();
    expect(c(seg(ACK | FIN, A + 1, B + 1))).toBe(ResultAlive);
    expect(t.stateName).toBe("fin_wait");
    expect(t.original.state).toBe(STREAM_FIN_SENT);
    expect(s(seg(ACK, B + 1, A + 2))).toBe(ResultAlive);
    expect(t.stateName).toBe("close_wait");
    expect(t.original.state).toBe(STREAM_CLOSED);
    // Half close: the server still sends data.
    expect(s(seg(ACK, B + 1, A + 2, { len: 300 }))).toBe(ResultAlive);
    expect(c(seg(ACK, A + 2, B + 301))).toBe(ResultAlive);
    expect(s(seg(ACK | FIN, B + 301, A + 2))).toBe(ResultAlive);
    expect(t.stateName).toBe("last_ack");
    expect(c(seg(ACK, A + 2, B + 302))).toBe(ResultClosedBySelf);
    expect(t.stateName).toBe("time_wait");
  });

  test("server closes first: closed by peer", () => {
    const { t, c, s } = established();
    expect(s(seg(ACK | FIN, B + 1, A + 1))).toBe(ResultAlive);
    expect(t.stateName).toBe("fin_wait");
    expect(c(seg(ACK, A + 1, B + 2))).toBe(ResultAlive);
    expect(t.stateName).toBe("close_wait");
    expect(c(seg(ACK | FIN, A + 1, B + 2))).toBe(ResultAlive);
    expect(t.stateName).toBe("last_ack");
    expect(s(seg(ACK, B + 2, A + 2))).toBe(ResultClosedByPeer);
    expect(t.stateName).toBe("time_wait");
  });

  test("both close at once: the FINs cross", () => {
    const { t, c, s } = established();
    expect(c(seg(ACK | FIN, A + 1, B + 1))).toBe(ResultAlive);
    expect(s(seg(ACK | FIN, B + 1, A + 1))).toBe(ResultAlive);
    expect(t.stateName).toBe("last_ack");
    expect(c(seg(ACK, A + 2, B + 2))).toBe(ResultAlive);
    expect(s(seg(ACK, B + 2, A + 2))).toBe(ResultClosedBySelf);
    expect(t.stateName).toBe("time_wait");
  });

  test("FIN with data, and FIN+ACK acknowledging the other FIN", () => {
    const { t, c, s } = established();
    expect(c(seg(ACK | FIN, A + 1, B + 1, { len: 50 }))).toBe(ResultAlive);
    expect(t.original.finSeq).toBe(A + 51);
    expect(s(seg(ACK | FIN, B + 1, A + 51))).toBe(ResultAlive);
    expect(t.stateName).toBe("last_ack");
    expect(s(seg(ACK, B + 2, A + 52))).toBe(ResultAlive);
    expect(c(seg(ACK, A + 52, B + 2))).toBe(ResultClosedBySelf);
  });

  test("a retransmitted FIN keeps its first sequence number", () => {
    const { t, c } = established();
    c(seg(ACK | FIN, A + 1, B + 1));
    expect(c(seg(ACK | FIN, A + 1, B + 1))).toBe(ResultAlive);
    expect(t.original.finSeq).toBe(A + 1);
  });

  test("RST while half closed resets", () => {
    const { t, c, s } = established();
    c(seg(ACK | FIN, A + 1, B + 1));
    s(seg(ACK, B + 1, A + 2));
    expect(s(seg(RST, B + 1))).toBe(ResultReset);
    expect(t.stateName).toBe("close");
  });
});

describe("time_wait", () => {
  function timeWait() {
    const tr = established();
    tr.c(seg(ACK | FIN, A + 1, B + 1));
    tr.s(seg(ACK | FIN, B + 1, A + 2));
    tr.c(seg(ACK, A + 2, B + 2));
    expect(tr.t.stateName).toBe("time_wait");
    return tr;
  }

  test("retransmitted FIN and last ACK still fit", () => {
    const { t, c, s } = timeWait();
    expect(s(seg(ACK | FIN, B + 1, A + 2))).toBe(ResultClosedBySelf);
    expect(c(seg(ACK, A + 2, B + 2))).toBe(ResultClosedBySelf);
    expect(t.stateName).toBe("time_wait");
  });

  test("retransmitted data before the FIN still fits", () => {
    const tr = established();
    tr.c(seg(ACK, A + 1, B + 1, { len: 10 }));
    tr.c(seg(ACK | FIN, A + 11, B + 1));
    tr.s(seg(ACK | FIN, B + 1, A + 12));
    tr.c(seg(ACK, A + 12, B + 2));
    expect(tr.t.stateName).toBe("time_wait");
    expect(tr.c(seg(ACK, A + 1, B + 2, { len: 10 }))).toBe(ResultClosedBySelf);
    expect(tr.c(seg(ACK | FIN, A + 1, B + 2, { len: 10 }))).toBe(ResultClosedBySelf);
  });

  test("data past the FIN, a FIN elsewhere and SYNs are dropped", () => {
    const { t, c } = timeWait();
    expect(c(seg(ACK, A + 2, B + 2, { len: 10 }))).toBe(ResultDrop);
    expect(c(seg(ACK | FIN, A + 5, B + 2))).toBe(ResultDrop);
    expect(c(seg(SYN, A + 100_000))).toBe(ResultDrop);
    expect(t.stateName).toBe("time_wait");
  });

  test("an RST at the expected sequence number moves to close (as Linux does)", () => {
    const { t, s } = timeWait();
    expect(s(seg(RST, B + 2))).toBe(ResultReset);
    expect(t.stateName).toBe("close");
  });
});

describe("close", () => {
  test("after a reset every segment is dropped", () => {
    const { t, c, s } = established();
    c(seg(RST, A + 1));
    expect(c(seg(ACK, A + 1, B + 1, { len: 1 }))).toBe(ResultDrop);
    expect(s(seg(ACK, B + 1, A + 1))).toBe(ResultDrop);
    expect(s(seg(RST, B + 1))).toBe(ResultDrop);
    expect(t.stateName).toBe("close");
  });

  test("a TCB can be re-initialised from a new SYN", () => {
    const { t, c } = established();
    c(seg(RST, A + 1));
    expect(t.init(seg(SYN, A + 1_000_000))).toBe(ResultConnecting);
    expect(t.stateName).toBe("syn_sent");
  });
});

describe("valid conversations are never dropped (property)", () => {
  /** One end of a simulated connection that obeys the windows it is given. */
  interface End {
    nxt: number;
    una: number;
    /** What it has received of the other direction (its RCV.NXT). */
    rcvNxt: number;
    /** Window it advertises, in bytes. */
    wnd: number;
    /** The other side's last advertised right edge for this end's data. */
    sndEnd: number;
    scale: number;
    finSent: boolean;
  }

  test("handshake, data, retransmissions, window changes and close in both directions", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffff_ffff }),
        fc.integer({ min: 0, max: 0xffff_ffff }),
        fc.option(fc.integer({ min: 0, max: 14 }), { nil: undefined }),
        fc.option(fc.integer({ min: 0, max: 14 }), { nil: undefined }),
        fc.array(
          fc.record({
            fromClient: fc.boolean(),
            kind: fc.constantFrom("data", "data", "data", "ack", "retransmit", "window", "window", "fin"),
            len: fc.integer({ min: 1, max: 20_000 }),
            wnd: fc.integer({ min: 0, max: 1 << 22 }),
          }),
          { maxLength: 60 },
        ),
        (iss, irs, cws, sws, steps) => {
          const scaling = cws !== undefined && sws !== undefined;
          const t = new Tcb();
          const c: End = {
            nxt: iss,
            una: iss,
            rcvNxt: 0,
            wnd: 65535,
            sndEnd: 0,
            scale: scaling ? cws : 0,
            finSent: false,
          };
          const s: End = {
            nxt: irs,
            una: irs,
            rcvNxt: 0,
            wnd: 65535,
            sndEnd: 0,
            scale: scaling ? sws : 0,
            finSent: false,
          };
          const field = (e: End) => Math.min(0xffff, Math.floor(e.wnd / 2 ** e.scale));
          expect(t.init(seg(SYN, iss, 0, { ws: cws ?? -1 }))).toBe(ResultConnecting);
          c.nxt = (iss + 1) >>> 0;
          s.rcvNxt = c.nxt;
          expect(t.updateReply(seg(SYN | ACK, irs, s.rcvNxt, { ws: sws ?? -1 }))).toBe(ResultConnecting);
          s.nxt = (irs + 1) >>> 0;
          c.una = c.nxt;
          c.sndEnd = (c.una + 65535) >>> 0;
          c.rcvNxt = s.nxt;
          expect(t.updateOriginal(seg(ACK, c.nxt, c.rcvNxt, { win: field(c) }))).toBe(ResultAlive);
          s.una = s.nxt;
          s.sndEnd = (s.una + field(c) * 2 ** c.scale) >>> 0;

          for (const st of steps) {
            const [from, to] = st.fromClient ? [c, s] : [s, c];
            const send = st.fromClient
              ? (x: TcpSegment) => t.updateOriginal(x)
              : (x: TcpSegment) => t.updateReply(x);
            const advertise = () => {
              to.sndEnd = (from.rcvNxt + field(from) * 2 ** from.scale) >>> 0;
              to.una = from.rcvNxt;
            };
            let r: Result;
            if (st.kind === "window") {
              from.wnd = st.wnd;
              r = send(seg(ACK, from.nxt, from.rcvNxt, { win: field(from) }));
              advertise();
            } else if (st.kind === "ack") {
              r = send(seg(ACK, from.nxt, from.rcvNxt, { win: field(from) }));
              advertise();
            } else if (st.kind === "retransmit") {
              // Resend from SND.UNA what is still unacknowledged (at most len bytes).
              const unacked = (from.nxt - from.una) >>> 0;
              const len =
                Math.min(unacked, st.len) - (from.finSent && Math.min(unacked, st.len) === unacked ? 1 : 0);
              if (len <= 0) continue;
              r = send(seg(ACK, from.una, from.rcvNxt, { len, win: field(from) }));
              advertise();
            } else if (from.finSent) {
              continue;
            } else {
              const room = ((from.sndEnd - from.nxt) | 0) > 0 ? (from.sndEnd - from.nxt) >>> 0 : 0;
              const fin = st.kind === "fin";
              // The FIN takes a sequence number too: it must fit the window like data (Linux's
              // tcp_snd_wnd_test counts it); a FIN past the right edge would be trimmed by the receiver.
              if (fin && room === 0) continue;
              const len = Math.min(room - (fin ? 1 : 0), st.len);
              if (len === 0 && !fin) continue;
              r = send(seg(ACK | (fin ? FIN : 0), from.nxt, from.rcvNxt, { len, win: field(from) }));
              from.nxt = (from.nxt + len + (fin ? 1 : 0)) >>> 0;
              from.finSent ||= fin;
              advertise();
              // Delivered at once: the receiver has it all.
              to.rcvNxt = from.nxt;
            }
            expect(r).not.toBe(ResultDrop);
          }
          // Both sides open their windows (so a FIN fits), then FIN if not yet sent, then the final ACKs.
          c.wnd = 65535;
          s.wnd = 65535;
          expect(t.updateOriginal(seg(ACK, c.nxt, c.rcvNxt, { win: field(c) }))).not.toBe(ResultDrop);
          expect(t.updateReply(seg(ACK, s.nxt, s.rcvNxt, { win: field(s) }))).not.toBe(ResultDrop);
          for (const [from, to, send] of [
            [c, s, (x: TcpSegment) => t.updateOriginal(x)],
            [s, c, (x: TcpSegment) => t.updateReply(x)],
          ] as const) {
            if (!from.finSent) {
              expect(send(seg(ACK | FIN, from.nxt, from.rcvNxt, { win: field(from) }))).not.toBe(ResultDrop);
              from.nxt = (from.nxt + 1) >>> 0;
              from.finSent = true;
              to.rcvNxt = from.nxt;
            }
          }
          expect(t.updateOriginal(seg(ACK, c.nxt, c.rcvNxt, { win: field(c) }))).not.toBe(ResultDrop);
          expect(t.updateReply(seg(ACK, s.nxt, s.rcvNxt, { win: field(s) }))).not.toBe(ResultDrop);
          expect(t.stateName).toBe("time_wait");
        },
      ),
      { numRuns: 1000 },
    );
  });
});
