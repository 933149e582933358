/** Out-of-order data, SACK blocks in our ACKs (RFC 2018) and D-SACK (RFC 2883). */
import { describe, expect, test } from "bun:test";
import { TCP_ACK, TCP_FIN } from "../../header/tcp.ts";
import { bytes, drain, Pair } from "./testing/pair.ts";
import { RawPeer } from "./testing/peer.ts";

const NO_TS = { mss: 1000, sackPermitted: true, windowScale: 7 };

describe("ESTABLISHED: out-of-order queue and SACK", () => {
  test("holes are reported newest block first; filling them delivers in order", () => {
    const p = new RawPeer({ tcp: { quickAckSegments: 0 } });
    const { ep, irs, iss } = p.acceptConnection(NO_TS);
    const base = irs + 1;
    const seg = (k: number) =>
      p.send({ flags: TCP_ACK, seq: base + k * 100, ack: iss + 1, payload: bytes(100, k) });
    seg(2);
    expect(p.next().options.sackBlocks).toEqual([base + 200, base + 300]);
    seg(5);
    expect(p.next().options.sackBlocks).toEqual([base + 500, base + 600, base + 200, base + 300]);
    seg(3);
    expect(p.next().options.sackBlocks).toEqual([base + 200, base + 400, base + 500, base + 600]);
    seg(0);
    const a = p.next();
    expect(a.ack).toBe(base + 100);
    expect(a.options.sackBlocks).toEqual([base + 200, base + 400, base + 500, base + 600]);
    seg(1);
    const b = p.next();
    expect(b.ack).toBe(base + 400);
    expect(b.options.sackBlocks).toEqual([base + 500, base + 600]);
    seg(4);
    expect(p.next().ack).toBe(base + 600);
    const want = new Uint8Array(600);
    for (let k = 0; k < 6; k++) want.set(bytes(100, k), k * 100);
    expect(drain(ep)).toEqual(want);
  });

  test("a duplicate segment is reported in a D-SACK block", () => {
    const p = new RawPeer({ tcp: { quickAckSegments: 0 } });
    const { irs, iss } = p.acceptConnection(NO_TS);
    const base = irs + 1;
    p.send({ flags: TCP_ACK, seq: base, ack: iss + 1, payload: bytes(100) });
    p.send({ flags: TCP_ACK, seq: base + 100, ack: iss + 1, payload: bytes(100) });
    p.sent.length = 0;
    p.send({ flags: TCP_ACK, seq: base, ack: iss + 1, payload: bytes(100) });
    const a = p.next();
    expect(a.ack).toBe(base + 200);
    expect(a.options.sackBlocks).toEqual([base, base + 100]);
  });

  test("a duplicate of out-of-order data: D-SACK first, then the block", () => {
    const p = new RawPeer({ tcp: { quickAckSegments: 0 } });
    const { irs, iss } = p.acceptConnection(NO_TS);
    const base = irs + 1;
    p.send({ flags: TCP_ACK, seq: base + 300, ack: iss + 1, payload: bytes(100) });
    p.next();
    p.send({ flags: TCP_ACK, seq: base + 300, ack: iss + 1, payload: bytes(100) });
    expect(p.next().options.sackBlocks).toEqual([base + 300, base + 400, base + 300, base + 400]);
  });

  test("no SACK blocks when the peer did not offer SACK-permitted", () => {
    const p = new RawPeer({ tcp: { quickAckSegments: 0 } });
    const { irs, iss } = p.acceptConnection({ mss: 1000 });
    p.send({ flags: TCP_ACK, seq: irs + 301, ack: iss + 1, payload: bytes(100) });
    const a = p.next();
    expect(a.options.sackBlocks).toEqual([]);
    expect(a.optionBytes.length).toBe(0);
  });

  test("with timestamps, at most 3 SACK blocks fit", () => {
    const p = new RawPeer({ tcp: { quickAckSegments: 0 } });
    const { irs, iss } = p.acceptConnection();
    for (let k = 1; k <= 5; k++) {
      p.send({
        flags: TCP_ACK,
        seq: irs + 1 + k * 200,
        ack: iss + 1,
        payload: bytes(100),
        options: { timestamp: true, tsVal: 2000 + k, tsEcr: 0 },
      });
    }
    const last = p.sent.at(-1)!;
    expect(last.options.sackBlocks.length).toBe(6);
    expect(last.options.sackBlocks[0]).toBe(irs + 1 + 1000);
  });

  test("a FIN that arrives before the data it follows waits for it", () => {
    const p = new RawPeer();
    const { ep, irs, iss } = p.acceptConnection(NO_TS);
    p.send({ flags: TCP_ACK | TCP_FIN, seq: irs + 101, ack: iss + 1, payload: bytes(50) });
    expect(ep.state).toBe("ESTABLISHED");
    p.send({ flags: TCP_ACK, seq: irs + 1, ack: iss + 1, payload: bytes(100) });
    expect(ep.state).toBe("CLOSE-WAIT");
    expect(drain(ep).length).toBe(150);
  });

  test("reordering over a pair delivers the stream intact", () => {
    const pair = new Pair();
    const { client, server } = pair.connect();
    pair.filter = (s, from, n) => (from === "a" && s.payload.length > 0 && n % 3 === 0 ? 30 : undefined);
    const data = bytes(200_000);
    let off = 0;
    let got = 0;
    const parts: Uint8Array[] = [];
    for (let i = 0; i < 5000 && got < data.length; i++) {
      if (off < data.length) {
        try {
          off += client.write(data.subarray(off));
        } catch {}
      }
      pair.run(1);
      const d = drain(server);
      got += d.length;
      parts.push(d);
    }
    const out = new Uint8Array(got);
    let o = 0;
    for (const d of parts) {
      out.set(d, o);
      o += d.length;
    }
    expect(out.length).toBe(data.length);
    expect(Buffer.compare(out, data)).toBe(0);
  });
});
