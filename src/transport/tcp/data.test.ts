/** ESTABLISHED: data both ways, MSS segmentation, delayed ACK, Nagle, cork, windows. */
import { describe, expect, test } from "bun:test";
import { TCP_ACK, TCP_PSH } from "../../header/tcp.ts";
import { seqAdd } from "../../seqnum/seqnum.ts";
import { ErrClosedForReceive, ErrConnectStarted, ErrWouldBlock } from "../../tcpip/errors.ts";
import { ShutdownFlags } from "../../tcpip/protocols.ts";
import { EventIn } from "../../waiter/waiter.ts";
import { bytes, drain, Pair } from "./testing/pair.ts";
import { RawPeer } from "./testing/peer.ts";

/** Moves `data` from `from` to `to` over `pair`, writing as the send buffer allows. */
function transfer(
  pair: Pair,
  from: import("./endpoint.ts").TcpEndpoint,
  to: import("./endpoint.ts").TcpEndpoint,
  data: Uint8Array,
): Uint8Array {
  let off = 0;
  const got: Uint8Array[] = [];
  for (
    let i = 0;
    i < 100000 && (off < data.length || got.reduce((n, g) => n + g.length, 0) < data.length);
    i++
  ) {
    if (off < data.length) {
      try {
        off += from.write(data.subarray(off));
      } catch (e) {
        if (!(e instanceof ErrWouldBlock)) throw e;
      }
    }
    pair.run(1);
    const d = drain(to);
    if (d.length) got.push(d);
  }
  const out = new Uint8Array(got.reduce((n, g) => n + g.length, 0));
  let o = 0;
  for (const g of got) {
    out.set(g, o);
    o += g.length;
  }
  return out;
}

describe("ESTABLISHED: data", () => {
  test("1 MB both ways over a pair, segments never above the MSS", () => {
    const pair = new Pair();
    let biggest = 0;
    pair.filter = (s) => {
      biggest = Math.max(biggest, s.payload.length);
      return undefined;
    };
    const { client, server } = pair.connect();
    const up = bytes(1 << 20, 1);
    expect(transfer(pair, client, server, up)).toEqual(up);
    const down = bytes(300_000, 2);
    expect(transfer(pair, server, client, down)).toEqual(down);
    expect(biggest).toBe(1448);
  });

  test("data arrives in MSS-sized segments with PSH on the last", () => {
    const p = new RawPeer();
    const { ep, irs } = p.acceptConnection({ mss: 1000 });
    ep.write(bytes(2500));
    const a = p.next();
    const b = p.next();
    const c = p.next();
    expect([a.payload.length, b.payload.length, c.payload.length]).toEqual([1000, 1000, 500]);
    expect(c.flags).toBe(TCP_ACK | TCP_PSH);
    expect(a.ack).toBe(irs + 1);
    expect(b.seq).toBe(seqAdd(a.seq, 1000));
  });

  test("read wakes EventIn; peek does not consume", () => {
    const p = new RawPeer();
    const { ep, wq, irs, iss } = p.acceptConnection({ mss: 1000 });
    let ev = 0;
    wq.register({ callback: (m) => (ev |= m) }, EventIn);
    p.send({ flags: TCP_ACK | TCP_PSH, seq: irs + 1, ack: seqAdd(iss, 1), payload: bytes(10) });
    expect(ev & EventIn).toBe(EventIn);
    expect(ep.peek(4).data).toEqual(bytes(10).subarray(0, 4));
    expect(ep.read().data).toEqual(bytes(10));
    expect(() => ep.read()).toThrow(ErrWouldBlock);
  });

  test("readInto: the bytes arrive exactly into the caller's array; empty it would block; after the FIN it is closed", () => {
    const pair = new Pair();
    const { client, server } = pair.connect();
    const data = bytes(300_000);
    let off = 0;
    const got = new Uint8Array(data.length);
    let n = 0;
    const dst = new Uint8Array(7000);
    for (let i = 0; i < 10_000 && n < data.length; i++) {
      try {
        if (off < data.length) off += client.write(data.subarray(off));
      } catch (e) {
        if (!(e instanceof ErrWouldBlock)) throw e;
      }
      pair.run(1);
      for (;;) {
        let k: number;
        try {
          k = server.readInto(dst);
        } catch (e) {
          expect(e).toBeInstanceOf(ErrWouldBlock);
          break;
        }
        got.set(dst.subarray(0, k), n);
        n += k;
      }
    }
    expect(n).toBe(data.length);
    expect(got).toEqual(new Uint8Array(data));
    client.shutdown(ShutdownFlags.Write);
    pair.run(50);
    expect(() => server.readInto(dst)).toThrow(ErrClosedForReceive);
  });
});

describe("ESTABLISHED: delayed ACK (RFC 9293 §3.8.6.3)", () => {
  test("quick-ack at start, then one ACK per two full segments, else after the delay", () => {
    const p = new RawPeer({ tcp: { quickAckSegments: 2 } });
    const { ep, irs, iss } = p.acceptConnection({ mss: 1000 });
    let seq = irs + 1;
    const send = (n: number) => {
      p.send({ flags: TCP_ACK, seq, ack: iss + 1, payload: bytes(n) });
      seq += n;
    };
    send(1000);
    expect(p.next().ack).toBe(seq); // quick-ack 1
    send(1000);
    expect(p.next().ack).toBe(seq); // quick-ack 2
    send(1000);
    p.expectNone(); // delayed
    send(1000);
    expect(p.next().ack).toBe(seq); // second full segment
    send(100);
    p.expectNone();
    p.advance(39);
    p.expectNone();
    p.advance(1);
    expect(p.next().ack).toBe(seq); // delayed-ACK timer (40 ms)
    expect(drain(ep).length).toBe(4100);
  });

  test("out-of-order data is acknowledged at once", () => {
    const p = new RawPeer({ tcp: { quickAckSegments: 0 } });
    const { irs, iss } = p.acceptConnection({ mss: 1000, sackPermitted: true });
    p.send({ flags: TCP_ACK, seq: irs + 1 + 1000, ack: iss + 1, payload: bytes(1000) });
    const a = p.next();
    expect(a.ack).toBe(irs + 1);
    expect(a.options.sackBlocks).toEqual([irs + 1001, irs + 2001]);
  });
});

describe("ESTABLISHED: Nagle and cork", () => {
  test("small writes wait for the ACK unless NoDelay", () => {
    const p = new RawPeer();
    const { ep, irs, iss } = p.acceptConnection({ mss: 1000 });
    ep.write(bytes(10));
    const first = p.next();
    expect(first.payload.length).toBe(10);
    ep.write(bytes(10));
    ep.write(bytes(10));
    p.expectNone(); // Nagle: 10 bytes outstanding
    p.send({ flags: TCP_ACK, seq: irs + 1, ack: iss + 11 });
    const second = p.next();
    expect(second.payload.length).toBe(20);
    ep.setSockOpt("NoDelay", true);
    ep.write(bytes(5));
    expect(p.next().payload.length).toBe(5);
  });

  test("WriteOptions.more holds a partial segment until a write without it", () => {
    const p = new RawPeer();
    const { ep } = p.acceptConnection({ mss: 1000 });
    ep.setSockOpt("NoDelay", true);
    ep.write(bytes(300), { more: true });
    p.expectNone();
    ep.write(bytes(800), { more: true });
    expect(p.next().payload.length).toBe(1000);
    p.expectNone();
    ep.write(bytes(10));
    expect(p.next().payload.length).toBe(110);
  });

  test("Cork holds partial segments until uncorked", () => {
    const p = new RawPeer();
    const { ep } = p.acceptConnection({ mss: 1000 });
    ep.setSockOpt("Cork", true);
    ep.write(bytes(100));
    p.expectNone();
    ep.setSockOpt("Cork", false);
    expect(p.next().payload.length).toBe(100);
  });

  test("cork and more hold a partial segment at most 200 ms (as Linux's TCP_CORK)", () => {
    const p = new RawPeer();
    const { ep, irs, iss } = p.acceptConnection({ mss: 1000 });
    ep.setSockOpt("Cork", true);
    ep.write(bytes(100));
    p.advance(199);
    p.expectNone();
    p.advance(1);
    expect(p.next().payload.length).toBe(100);
    p.send({ flags: TCP_ACK, seq: irs + 1, ack: iss + 101 });
    ep.setSockOpt("Cork", false);
    ep.setSockOpt("NoDelay", true);
    ep.write(bytes(50), { more: true });
    p.advance(200);
    expect(p.next().payload.length).toBe(50);
  });
});

describe("ESTABLISHED: send buffer", () => {
  test("partial writes, then ErrWouldBlock when the buffer is full", () => {
    const p = new RawPeer();
    const { ep } = p.acceptConnection({ mss: 1000 });
    ep.setSockOpt("SendBufferSize", 4096);
    expect(ep.write(bytes(10000))).toBe(4096);
    expect(() => ep.write(bytes(1))).toThrow(ErrWouldBlock);
  });

  test("a write marked immutable queues the caller's bytes without a copy; a plain write copies", () => {
    const p = new RawPeer();
    const { ep } = p.acceptConnection({ mss: 1000 });
    ep.setSockOpt("SendBufferSize", 4096);
    const held = bytes(3000, 3);
    const copied = bytes(1000, 4);
    expect(ep.write(held, { immutable: true })).toBe(3000);
    expect(ep.write(copied)).toBe(1000);
    const views = ep.snd.buf.views;
    expect(views[0]!.buffer).toBe(held.buffer);
    expect(views[0]!.length).toBe(3000);
    expect(views[1]!.buffer).not.toBe(copied.buffer);
    // Only what fits is queued, as a view of the front of the caller's bytes.
    expect(ep.write(bytes(500, 5), { immutable: true })).toBe(96);
    expect(ep.snd.buf.views[2]!.length).toBe(96);
    expect([...p.next().payload]).toEqual([...held.subarray(0, 1000)]);
  });
});

describe("sequence numbers wrap at 2^32 (RFC 9293 §3.4)", () => {
  test("our ISN just below 2^32: 300 kB each way over a pair", () => {
    const pair = new Pair();
    const { ep: l } = pair.endpoint("b");
    l.bind({ port: 80 });
    l.listen(1);
    const { ep: c } = pair.endpoint("a");
    c.isnHint = 0xffffff00;
    expect(() => c.connect({ addr: pair.addrB, port: 80 })).toThrow(ErrConnectStarted);
    pair.run(50);
    const s = l.accept().endpoint;
    const up = bytes(300_000, 8);
    expect(Buffer.compare(transfer(pair, c, s, up), up)).toBe(0);
    expect(c.snd.una).toBeLessThan(0xffffff00);
  });

  test("the peer's sequence numbers wrap, with a hole across the wrap", () => {
    const p = new RawPeer({ tcp: { quickAckSegments: 0 } });
    const { ep, iss } = p.connectEndpoint({ mss: 1000, sackPermitted: true, windowScale: 7 }, 0xfffffe00);
    let seq = 0xfffffe01;
    const at = (k: number) => (seq + k * 300) >>> 0;
    p.sent.length = 0;
    p.send({ flags: TCP_ACK, seq: at(1), ack: iss + 1, payload: bytes(300, 1) });
    const a = p.next();
    expect(a.ack).toBe(seq);
    expect(a.options.sackBlocks).toEqual([at(1), at(2)]);
    p.send({ flags: TCP_ACK, seq: at(0), ack: iss + 1, payload: bytes(300, 0) });
    expect(p.next().ack).toBe(at(2));
    seq = at(2);
    expect(seq).toBeLessThan(0x1000);
    const got = drain(ep);
    expect(got.length).toBe(600);
    expect(got.subarray(300)).toEqual(bytes(300, 1));
  });
});
