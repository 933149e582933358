/**
 * Link batches and a reader that reads at the batch's end (issue 10, as the
 * echo service does): its answer carries our ACK instead of following it.
 */
import { describe, expect, test } from "bun:test";
import { TCP_ACK, TCP_FIN, TCP_PSH } from "../../header/tcp.ts";
import { seqAdd } from "../../seqnum/seqnum.ts";
import type { BatchDeferred, StackContext } from "../../stack/registration.ts";
import { ErrClosedForReceive } from "../../tcpip/errors.ts";
import { ShutdownFlags } from "../../tcpip/protocols.ts";
import { EventIn } from "../../waiter/waiter.ts";
import type { TcpEndpoint } from "./endpoint.ts";
import { withBatches } from "./testing/batches.ts";
import { bytes } from "./testing/pair.ts";
import { RawPeer } from "./testing/peer.ts";

/** An echo reader that reads at the batch's end; on end of stream it closes its side. */
function batchEndEcho(
  p: RawPeer,
  ep: TcpEndpoint,
  wq: { register: (e: { callback: (m: number) => void }, m: number) => void },
) {
  let due = false;
  const reader: BatchDeferred = {
    flushDeferred() {
      due = false;
      for (;;) {
        if ((ep.readiness(EventIn) & EventIn) === 0) return;
        try {
          const d = ep.read().data;
          if (d.length === 0) return;
          ep.write(d);
        } catch (e) {
          if (e instanceof ErrClosedForReceive) ep.shutdown(ShutdownFlags.Write);
          return;
        }
      }
    },
  };
  wq.register(
    {
      callback: () => {
        if (due) return;
        due = true;
        if ((p.stack as StackContext).deferUntilBatchEnd?.(reader) !== true) reader.flushDeferred();
      },
    },
    EventIn,
  );
}

describe("ESTABLISHED: a reader at the batch's end answers with our ACK", () => {
  test("1-byte request: one segment back, the echo with the ACK (quick-ack mode)", () => {
    const p = new RawPeer();
    const { ep, wq, irs, iss } = p.acceptConnection({ mss: 1000 });
    ep.setSockOpt("NoDelay", true);
    const batch = withBatches(p);
    batchEndEcho(p, ep, wq);
    batch.run(() =>
      p.send({ flags: TCP_ACK | TCP_PSH, seq: seqAdd(irs, 1), ack: seqAdd(iss, 1), payload: bytes(1) }),
    );
    const echo = p.next();
    expect(echo.payload.length).toBe(1);
    expect(echo.flags & TCP_ACK).toBe(TCP_ACK);
    expect(echo.ack).toBe(seqAdd(irs, 2));
    p.expectNone();
  });

  test("a pure ACK before the data in the same batch: still one segment back", () => {
    const p = new RawPeer();
    const { ep, wq, irs, iss } = p.acceptConnection({ mss: 1000 });
    ep.setSockOpt("NoDelay", true);
    const batch = withBatches(p);
    batchEndEcho(p, ep, wq);
    batch.run(() => {
      // The first segment queues the endpoint's batch-end output before the reader is woken.
      p.send({ flags: TCP_ACK, seq: seqAdd(irs, 1), ack: seqAdd(iss, 1), window: 60000 });
      p.send({ flags: TCP_ACK | TCP_PSH, seq: seqAdd(irs, 1), ack: seqAdd(iss, 1), payload: bytes(1) });
    });
    const echo = p.next();
    expect(echo.payload.length).toBe(1);
    expect(echo.ack).toBe(seqAdd(irs, 2));
    p.expectNone();
  });

  test("CLOSE-WAIT: the ACK of the peer's FIN rides on our FIN (LAST-ACK)", () => {
    const p = new RawPeer();
    const { ep, wq, irs, iss } = p.acceptConnection({ mss: 1000 });
    const batch = withBatches(p);
    batchEndEcho(p, ep, wq);
    batch.run(() => {
      p.send({ flags: TCP_ACK, seq: seqAdd(irs, 1), ack: seqAdd(iss, 1), window: 60000 });
      p.send({ flags: TCP_ACK | TCP_FIN, seq: seqAdd(irs, 1), ack: seqAdd(iss, 1) });
    });
    const fin = p.next();
    expect(fin.flags).toBe(TCP_ACK | TCP_FIN);
    expect(fin.ack).toBe(seqAdd(irs, 2));
    expect(ep.state).toBe("LAST-ACK");
    p.expectNone();
  });

  test("a reader that does not answer: the ACK still goes when the batch ends", () => {
    const p = new RawPeer();
    const { irs, iss, wq } = p.acceptConnection({ mss: 1000 });
    const batch = withBatches(p);
    let woken = 0;
    wq.register({ callback: () => woken++ }, EventIn);
    batch.run(() => {
      p.send({ flags: TCP_ACK, seq: seqAdd(irs, 1), ack: seqAdd(iss, 1), window: 60000 });
      p.send({ flags: TCP_ACK | TCP_PSH, seq: seqAdd(irs, 1), ack: seqAdd(iss, 1), payload: bytes(1) });
      p.expectNone();
    });
    expect(woken).toBe(1);
    const a = p.next();
    expect(a.flags).toBe(TCP_ACK);
    expect(a.ack).toBe(seqAdd(irs, 2));
    p.expectNone();
  });
});
