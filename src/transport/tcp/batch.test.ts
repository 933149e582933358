/** Link batches (issue 10): segments a link delivers in one batch are answered once, at its end. */
import { describe, expect, test } from "bun:test";
import { TCP_ACK } from "../../header/tcp.ts";
import { seqAdd, seqSize } from "../../seqnum/seqnum.ts";
import { withBatches } from "./testing/batches.ts";
import { bytes, drain } from "./testing/pair.ts";
import { RawPeer } from "./testing/peer.ts";

describe("ESTABLISHED: one ACK per link batch", () => {
  test("in-order segments of one batch get one ACK, sent when the batch ends", () => {
    const p = new RawPeer({ tcp: { quickAckSegments: 16 } });
    const { ep, irs, iss } = p.acceptConnection({ mss: 1000 });
    const batch = withBatches(p);
    let seq = seqAdd(irs, 1);
    batch.run(() => {
      for (let i = 0; i < 6; i++) {
        p.send({ flags: TCP_ACK, seq, ack: seqAdd(iss, 1), payload: bytes(1000) });
        seq = seqAdd(seq, 1000);
      }
      // Quick-ack mode would have answered each of these at once outside a batch.
      p.expectNone();
    });
    const a = p.next();
    expect(a.flags).toBe(TCP_ACK);
    expect(a.ack).toBe(seq);
    p.expectNone();
    expect(drain(ep).length).toBe(6000);
  });

  test("outside a batch every quick-ack segment is still answered at once", () => {
    const p = new RawPeer({ tcp: { quickAckSegments: 16 } });
    const { irs, iss } = p.acceptConnection({ mss: 1000 });
    withBatches(p);
    p.send({ flags: TCP_ACK, seq: seqAdd(irs, 1), ack: seqAdd(iss, 1), payload: bytes(1000) });
    expect(p.next().ack).toBe(seqAdd(irs, 1001));
  });

  test("an out-of-order segment in a batch gets its duplicate ACK at once (RFC 5681 §4.2)", () => {
    const p = new RawPeer({ tcp: { quickAckSegments: 0 } });
    const { irs, iss } = p.acceptConnection({ mss: 1000, sackPermitted: true });
    const batch = withBatches(p);
    batch.run(() => {
      p.send({ flags: TCP_ACK, seq: seqAdd(irs, 1001), ack: seqAdd(iss, 1), payload: bytes(1000) });
      const dup = p.next();
      expect(dup.ack).toBe(seqAdd(irs, 1));
      expect(dup.options.sackBlocks).toEqual([seqAdd(irs, 1001), seqAdd(irs, 2001)]);
      // The gap is filled in the same batch: that ACK waits for the end.
      p.send({ flags: TCP_ACK, seq: seqAdd(irs, 1), ack: seqAdd(iss, 1), payload: bytes(1000) });
    });
    expect(p.next().ack).toBe(seqAdd(irs, 2001));
    p.expectNone();
  });

  test("data the batch's ACKs allow is sent when the batch ends", () => {
    const p = new RawPeer();
    const { ep, irs, iss } = p.acceptConnection({ mss: 1000 });
    const batch = withBatches(p);
    // Fill the initial window, then let the peer acknowledge it in one batch of two ACKs.
    ep.write(bytes(60_000));
    const first: number[] = [];
    for (let s = p.sent.shift(); s; s = p.sent.shift()) first.push(s.payload.length);
    expect(first.length).toBeGreaterThan(0);
    const acked = first.reduce((n, l) => n + l, 0);
    batch.run(() => {
      p.send({ flags: TCP_ACK, seq: seqAdd(irs, 1), ack: seqAdd(iss, 1 + first[0]!), window: 65535 });
      p.send({ flags: TCP_ACK, seq: seqAdd(irs, 1), ack: seqAdd(iss, 1 + acked), window: 65535 });
      p.expectNone();
    });
    const next = p.next();
    expect(next.seq).toBe(seqAdd(iss, 1 + acked));
    expect(next.payload.length).toBe(1000);
  });

  test("an ACK goes at once when a quarter of the advertised window arrived unacknowledged", () => {
    const p = new RawPeer({
      tcp: { quickAckSegments: 0, receiveBufferSize: { min: 4096, default: 8000, max: 8000 } },
    });
    const { irs, iss } = p.acceptConnection({ mss: 1000 });
    const batch = withBatches(p);
    let seq = seqAdd(irs, 1);
    const steps: number[][] = [];
    batch.run(() => {
      for (let i = 0; i < 2; i++) {
        p.send({ flags: TCP_ACK, seq, ack: seqAdd(iss, 1), payload: bytes(1000) });
        seq = seqAdd(seq, 1000);
        const acks: number[] = [];
        for (let a = p.sent.shift(); a; a = p.sent.shift()) acks.push(seqSize(irs, a.ack) - 1);
        steps.push(acks);
      }
    });
    // The 8000-byte window: 1000 bytes waits for the batch's end, 2000 (a quarter) is acknowledged at once.
    expect(steps).toEqual([[], [2000]]);
  });
});
