/**
 * echo (RFC 862), discard (RFC 863) and chargen (RFC 864) over TCP, served
 * straight on the stack's endpoints.
 *
 * Issue 10 ("memory per idle connection"): the `node:net`-style `Socket` of
 * `src/adapters/net` is a `stream.Duplex`; with `pipe()` it cost ~4 KiB of
 * heap per idle echo connection, as much as the TCP endpoint itself. Here a
 * connection is one small object that is its own waiter entry. Like the
 * `Socket`, reading is deferred so that a batch of segments delivered in one
 * link read is read once, not once per segment (one window update instead of
 * one per segment): to the end of the link's batch when the stack has one
 * (`StackContext.deferUntilBatchEnd`), else to a microtask.
 *
 * Issue 10 (connections/s, request/response): at the batch's end the read
 * runs before TCP's own deferred output for that segment (queued when the
 * segment's processing ends, after the notification that queued the read),
 * so the echo and our FIN carry the ACK of what they answer: three segments
 * from us per connection (SYN-ACK, echo, FIN) instead of five, and one per
 * round trip instead of two. From a microtask the ACK had already gone.
 */

import { toNodeError } from "../adapters/net/errors.ts";
import type { StackLike } from "../adapters/net/socket.ts";
import type { BatchDeferred, Endpoint, StackContext } from "../stack/registration.ts";
import { ErrClosedForReceive, ErrWouldBlock } from "../tcpip/errors.ts";
import { SockOpt } from "../tcpip/options.ts";
import { IPV6_PROTOCOL_NUMBER, ShutdownFlags, TCP_PROTOCOL_NUMBER } from "../tcpip/protocols.ts";
import { type Entry, EventErr, EventHUp, EventIn, EventOut, Queue } from "../waiter/waiter.ts";
import { chargenChunk } from "./chargen.ts";

export type StreamServiceKind = "echo" | "discard" | "chargen";

/** Live counters of one service (the caller's object, updated in place). */
export interface StreamServiceCounters {
  connections: number;
  bytesIn: number;
  bytesOut: number;
}

export interface StreamServiceOptions {
  keepalive?: { idleMs: number; intervalMs: number; count: number } | undefined;
}

/** The largest read at once, as the `Socket`'s readable high-water mark. */
const READ_MAX = 64 * 1024;
/** Where discard copies what it drops (never read back; shared by every discard connection). */
const DISCARD_SCRATCH = new Uint8Array(READ_MAX);
/** ~63 KiB per write, whole periods so the pattern continues seamlessly from any offset. */
const CHARGEN = chargenChunk(9);
/** `CHARGEN` never changes: TCP may queue views of it rather than a copy per write. */
const IMMUTABLE = { immutable: true } as const;

/** The stack's batch-end hook, when it has one (the `Stack` does). */
type BatchingStack = StackLike & Partial<Pick<StackContext, "deferUntilBatchEnd">>;

/** Connections with a read due outside a link batch, served in one microtask. */
let due: StreamConnection[] = [];
let dueScheduled = false;
function runDue(): void {
  dueScheduled = false;
  const list = due;
  due = [];
  for (const c of list) {
    c.readDue = false;
    c.readAll();
  }
}

class StreamConnection implements Entry, BatchDeferred {
  /** echo: bytes read that the send buffer has not taken yet (reading pauses until it does). */
  private pending: Uint8Array | undefined;
  /** chargen: where in `CHARGEN` the next write starts. */
  private off = 0;
  private finSeen = false;
  private pumping = false;
  private done = false;
  readDue = false;
  /** chargen: a write waits for the link batch's end (`schedulePump`). */
  private pumpDue = false;

  constructor(
    private readonly service: StreamService,
    readonly ep: Endpoint,
    private readonly wq: Queue,
  ) {}

  start(): void {
    this.wq.register(this, EventIn | EventOut | EventErr | EventHUp);
    if (this.service.kind === "chargen") this.pump();
    this.scheduleRead();
  }

  /** The waiter callback. */
  callback(mask: number): void {
    if (this.done) return;
    if (mask & EventOut) {
      if (this.service.kind === "chargen") this.schedulePump();
      else if (this.pending) {
        this.flushPending();
        if (!this.pending) {
          if (this.finSeen) this.finish();
          else this.scheduleRead();
        }
      }
    }
    if (mask & (EventIn | EventErr | EventHUp)) this.scheduleRead();
  }

  private scheduleRead(): void {
    if (this.readDue || this.done) return;
    this.readDue = true;
    if (this.service.deferToBatchEnd(this)) return;
    due.push(this);
    if (!dueScheduled) {
      dueScheduled = true;
      queueMicrotask(runDue);
    }
  }

  /**
   * chargen: room in the send buffer. Inside a link batch (an ACK freed it) the writes wait for the
   * batch's end: one write of the room all the batch's ACKs made, not one small write per ACK in the
   * middle of the batch (issue 10: with a write per ACK the send queue held thousands of ~3 KB chunks,
   * each write a copy of its own, and the segments left between ACKs instead of after the batch).
   */
  private schedulePump(): void {
    if (this.pumpDue || this.done) return;
    this.pumpDue = true;
    if (this.service.deferToBatchEnd(this)) return;
    this.pumpDue = false;
    this.pump();
  }

  /** The link's batch ended (`scheduleRead`, `schedulePump`). */
  flushDeferred(): void {
    if (this.pumpDue) {
      this.pumpDue = false;
      this.pump();
    }
    if (!this.readDue) return;
    this.readDue = false;
    this.readAll();
  }

  readAll(): void {
    const ep = this.ep;
    const counters = this.service.counters;
    while (!this.done && !this.pending) {
      const ready = ep.readiness(EventIn | EventErr);
      if ((ready & EventIn) === 0) return;
      // Readable, nothing queued and no error: the peer's FIN. Taken without the ErrClosedForReceive a
      // read would throw (an Error with its stack trace, once per connection: ~1.5 % of the CPU of
      // `netstack serve` at the connections/s figure, issue 10).
      if ((ready & EventErr) === 0 && ep.getSockOpt(SockOpt.ReceiveQueueSize) === 0) {
        this.onPeerFin();
        return;
      }
      let data: Uint8Array | undefined;
      let n: number;
      try {
        // RFC 863: discard drops what it reads, so it reads into one scratch array: the stack then
        // reuses the memory the bytes were in (issue 10: a fresh array per read cost a garbage
        // collection every few MiB, stalling the link for ~10 ms each).
        if (this.service.kind === "discard" && ep.readInto) n = ep.readInto(DISCARD_SCRATCH);
        else {
          data = ep.read(READ_MAX).data;
          n = data.length;
        }
      } catch (e) {
        if (e instanceof ErrWouldBlock) return;
        if (e instanceof ErrClosedForReceive) this.onPeerFin();
        else this.destroy();
        return;
      }
      if (n === 0) {
        // Readable with nothing to read: a failed connection (the next read throws) or none.
        if ((ep.readiness(EventErr | EventHUp) & (EventErr | EventHUp)) === 0) return;
        continue;
      }
      counters.bytesIn += n;
      if (this.service.kind === "echo" && data !== undefined) {
        // RFC 862: "Once a connection is established any data received is sent back."
        this.pending = data;
        this.flushPending();
      }
    }
  }

  private flushPending(): void {
    const p = this.pending;
    if (!p) return;
    // Taken off first: over loopback the write can come back here (EventOut) before it returns.
    this.pending = undefined;
    let n: number;
    try {
      n = this.ep.write(p);
    } catch (e) {
      if (e instanceof ErrWouldBlock) this.pending = p;
      else this.destroy();
      return;
    }
    this.service.counters.bytesOut += n;
    if (n < p.length && !this.done) this.pending = p.subarray(n);
  }

  /** chargen: writes while the send buffer takes bytes (RFC 864: "until the calling user terminates"). */
  private pump(): void {
    // Over loopback a write can come back here (EventOut) before it returns: the running loop goes on.
    if (this.pumping) return;
    this.pumping = true;
    const ep = this.ep;
    try {
      while (!this.done) {
        // Asked first: a write into a full buffer throws ErrWouldBlock, an Error with its stack trace.
        if ((ep.readiness(EventOut) & EventOut) === 0) return;
        let n: number;
        try {
          n = ep.write(this.off === 0 ? CHARGEN : CHARGEN.subarray(this.off), IMMUTABLE);
        } catch (e) {
          if (!(e instanceof ErrWouldBlock)) this.destroy();
          return;
        }
        if (n === 0) return;
        this.service.counters.bytesOut += n;
        this.off = (this.off + n) % CHARGEN.length;
      }
    } finally {
      this.pumping = false;
    }
  }

  private onPeerFin(): void {
    if (this.service.kind === "chargen") {
      // The client is done: stop sending (the Socket-based service destroyed the socket here too).
      this.destroy();
      return;
    }
    // echo and discard close their side once the peer has (after echoing what is left).
    this.finSeen = true;
    if (!this.pending) this.finish();
  }

  /** A clean end: our FIN after everything written, then the endpoint lives on only to finish. */
  private finish(): void {
    try {
      this.ep.shutdown(ShutdownFlags.Write);
    } catch {}
    this.destroy();
  }

  destroy(): void {
    if (this.done) return;
    this.done = true;
    this.pending = undefined;
    this.wq.unregister(this);
    try {
      this.ep.close();
    } catch {}
    this.service.closed(this);
  }
}

/** One listening TCP service. */
export class StreamService {
  private readonly listener: Endpoint;
  private readonly wq = new Queue();
  private readonly conns = new Set<StreamConnection>();
  private readonly entry: Entry = { callback: () => this.acceptAll() };
  private closing = false;
  private readonly stack: BatchingStack;

  /** Listens on `port` (dual-stack, any address); throws a Node-style error (`code` EADDRINUSE, ...). */
  constructor(
    stack: BatchingStack,
    readonly kind: StreamServiceKind,
    port: number,
    readonly counters: StreamServiceCounters,
    private readonly opts: StreamServiceOptions = {},
  ) {
    this.stack = stack;
    const ep = stack.newEndpoint(TCP_PROTOCOL_NUMBER, IPV6_PROTOCOL_NUMBER, this.wq);
    try {
      ep.bind({ port });
      ep.listen!(511);
    } catch (e) {
      try {
        ep.close();
      } catch {}
      throw toNodeError(e, "listen", "::", port);
    }
    this.listener = ep;
    this.wq.register(this.entry, EventIn);
    this.acceptAll();
  }

  /** Puts `c`'s read off to the end of the link's batch; false outside a batch. */
  deferToBatchEnd(c: StreamConnection): boolean {
    return this.stack.deferUntilBatchEnd?.(c) === true;
  }

  private acceptAll(): void {
    if (this.closing) return;
    const l = this.listener;
    for (;;) {
      // Asked first: an accept() that throws ErrWouldBlock costs an Error with its stack trace, once
      // per connection (~6 % of the CPU of `netstack serve` at ~3,000 connections/s).
      if ((l.readiness(EventIn) & EventIn) === 0) return;
      let a: { endpoint: Endpoint; waiterQueue: unknown };
      try {
        a = l.accept!();
      } catch {
        return;
      }
      const ep = a.endpoint;
      if (!(a.waiterQueue instanceof Queue)) {
        ep.close();
        continue;
      }
      try {
        // Interactive services answer each segment at once; chargen fills segments (Nagle on).
        if (this.kind !== "chargen") ep.setSockOpt(SockOpt.NoDelay, true);
        const k = this.opts.keepalive;
        if (k) {
          ep.setSockOpt(SockOpt.KeepaliveEnabled, true);
          ep.setSockOpt(SockOpt.KeepaliveIdle, k.idleMs);
          ep.setSockOpt(SockOpt.KeepaliveInterval, k.intervalMs);
          ep.setSockOpt(SockOpt.KeepaliveCount, k.count);
        }
      } catch {}
      const c = new StreamConnection(this, ep, a.waiterQueue);
      this.conns.add(c);
      this.counters.connections++;
      c.start();
    }
  }

  closed(c: StreamConnection): void {
    if (this.conns.delete(c)) this.counters.connections--;
  }

  /** Stops listening and closes every connection. */
  close(): void {
    this.closing = true;
    this.wq.unregister(this.entry);
    try {
      this.listener.close();
    } catch {}
    for (const c of [...this.conns]) c.destroy();
  }
}
