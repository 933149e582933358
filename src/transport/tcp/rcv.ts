/**
 * The receive side of a connection: in-order queue, out-of-order queue,
 * receive window with receiver-side silly window avoidance, ACK scheduling,
 * and the SACK / D-SACK blocks our ACKs carry.
 */
import type { BufferLease } from "../../buffer/packet-buffer.ts";
import { VectorisedView } from "../../buffer/vectorised-view.ts";
import { seqAdd, seqGreaterThan, seqLessThan, seqLessThanEq, seqMax, seqSize } from "../../seqnum/seqnum.ts";

/**
 * In-order text is copied into backing arrays of this size, segment after
 * segment (issue 10): one allocation per 64 KiB instead of one per segment,
 * and a read of several segments is a view of one array, not a second copy.
 */
const RCV_CHUNK = 64 * 1024;
/** Smaller segments that do not fit the current array get an exact copy (an idle connection holds no 64 KiB). */
const RCV_CHUNK_MIN_SEGMENT = 512;
/**
 * Larger ones (GRO super-segments) get an exact copy too: `slice` copies into
 * fresh memory without zero-filling it first, where a new 64 KiB array would
 * be zero-filled and then copied into (measured: memset was ~9% of the
 * `--offload` upload profile).
 */
const RCV_CHUNK_MAX_SEGMENT = RCV_CHUNK / 4;
/**
 * A segment of at least RCV_CHUNK_MAX_SEGMENT whose bytes the link gave away (`PacketBuffer.dataKeepable`)
 * is queued as it is, no copy, while less than this is queued (issue 10: the copy of each 64 KiB GRO
 * packet, `slice`, was ~13% of an `--offload` upload's CPU). A kept segment pins the link's receive
 * buffer (a 1 MiB slab for the fdbased link) until read: the bound keeps a reader that falls behind from
 * pinning more than a few of them; past it segments are copied as before.
 */
const RCV_KEEP_QUEUED_MAX = 256 * 1024;
/** A read returns a view of the first queued chunk alone, rather than copying across chunks, when that chunk holds at least this much. */
const READ_VIEW_MIN = 4096;

/** A queued segment whose bytes are the link's, held through its lease; `start`/`end` are stream offsets. */
interface KeptChunk {
  lease: BufferLease;
  start: number;
  end: number;
  /** A view of it went to a reader, who may keep it: never released. */
  given: boolean;
}

interface OooSegment {
  seq: number;
  data: Uint8Array;
}

export class ReceiveState {
  /** IRS (RFC 9293 §3.3.1). */
  irs = 0;
  /** RCV.NXT. */
  nxt = 0;
  /** The right edge we last advertised, RCV.NXT + RCV.WND at our last ACK. */
  advEdge = 0;
  /** Our window scale shift (Rcv.Wind.Shift, RFC 7323 §2.2); 0 when not negotiated. */
  scale = 0;
  /** The shift we offered in our SYN (applies once the peer agreed). */
  offeredScale = 0;
  /** In-order bytes the user has not read yet. */
  readonly queue = new VectorisedView();
  /** The array in-order text is copied into (see RCV_CHUNK); bytes before `tailUsed` are taken. */
  private tail: Uint8Array | undefined;
  private tailUsed = 0;
  /** The receive array went (in part) to a reader as a view: it is never rewound for new text. */
  private tailGiven = false;
  /** Bytes ever queued in order, and ever taken out by reads: stream offsets for `kept`. */
  private queuedTotal = 0;
  private takenTotal = 0;
  /** Queued link buffers held through their lease (`PacketBuffer.lease`), oldest first; made on first use. */
  private kept: KeptChunk[] | undefined = undefined;
  /** Out-of-order segments, sorted, not overlapping (bounded by the window, so by the buffer). */
  private ooo: OooSegment[] = [];
  oooBytes = 0;
  /** Sequence number of a FIN that arrived ahead of RCV.NXT. */
  private oooFin: number | undefined;
  /** Whether the peer's FIN was processed in order: the stream ended. */
  finReceived = false;

  /** An ACK must go out now (out-of-order data, a filled gap, the second full segment, quick-ack). */
  ackNow = false;
  /** An ACK is owed; the delayed-ACK timer sends it unless data carries it first. */
  ackPending = false;
  /** Segments left in quick-ack mode (each acknowledged at once). */
  quickAcks = 0;
  /** RCV.NXT in our last ACK (RFC 7323 §4.3 Last.ACK.sent). */
  lastAckSent = 0;
  /** Estimate of the peer's segment size, for delayed ACK and receiver SWS. */
  mss = 536;

  /** SACK-permitted was negotiated (RFC 2018 §2). */
  sackEnabled = false;
  /** Sequence numbers of recently received out-of-order segments, newest first (RFC 2018 §4). */
  private recent: number[] = [];
  /** A duplicate range to report once as the first SACK block (RFC 2883 §4). */
  private dsackStart = 0;
  private dsackEnd = 0;
  private hasDsack = false;

  /** Window scaling was negotiated (RFC 7323 §2.2). */
  wsEnabled = false;

  /** Timestamps were negotiated (RFC 7323 §3.2). */
  tsEnabled = false;
  /** TS.Recent (RFC 7323 §4.3). */
  tsRecent = 0;
  /** When TS.Recent was set (ms), for the 24-day validity of RFC 7323 §5.5. */
  tsRecentTime = 0;

  constructor(public bufSize: number) {}

  /** RCV.WND as last advertised, from RCV.NXT. */
  get window(): number {
    const w = (this.advEdge - this.nxt) | 0;
    return Math.max(w, 0);
  }

  /** Buffer space not used by unread data. */
  get free(): number {
    return Math.max(0, this.bufSize - this.queue.size - this.oooBytes);
  }

  /** Sets the initial state from the peer's SYN. */
  init(irs: number): void {
    this.irs = irs;
    this.nxt = seqAdd(irs, 1);
    this.lastAckSent = this.nxt;
    this.advEdge = seqAdd(this.nxt, Math.min(this.free, 0xffff));
  }

  /**
   * The window field for the next segment, moving the right edge per RFC 9293
   * §3.8.6.2.2: "the receiver should not advance the right window edge ...
   * until [it can be moved] by at least min(Fr * RCV.BUFF, Eff.snd.MSS)" with
   * Fr = 1/2, and never moving it left (RFC 9293 §3.8.6.2.2 / RFC 7323 §2.4).
   */
  selectWindow(syn: boolean): number {
    const cur = this.window;
    const free = Math.max(0, this.bufSize - this.queue.size);
    const grow = free > cur && (free - cur >= Math.min(this.bufSize >> 1, this.mss) || free >= this.bufSize);
    const wnd = grow ? free : cur;
    if (syn) {
      // RFC 7323 §2.2: "The window field in a segment where the SYN bit is set ... MUST NOT be scaled".
      const field = Math.min(0xffff, wnd);
      this.advEdge = seqMax(this.advEdge, seqAdd(this.nxt, field));
      return field;
    }
    // Scaled: round a grown window down (never promise more than the buffer holds) and a kept one up
    // (never move the right edge left, RFC 7323 §2.4).
    const unit = 1 << this.scale;
    const field = Math.min(0xffff, grow ? Math.floor(wnd / unit) : Math.ceil(wnd / unit));
    this.advEdge = seqMax(this.advEdge, seqAdd(this.nxt, field * unit));
    return field;
  }

  /**
   * Whether reading opened the window enough to send a window update now.
   * RFC 1122 §4.2.3.3 / RFC 9293 §3.8.6.2.2 say the window may only grow in
   * steps of at least min(RCV.BUFF/2, MSS). An ACK just for that is only worth
   * sending when the window the peer sees has shrunk to half the buffer or less
   * (as Linux's tcp_cleanup_rbuf does): otherwise the next regular or delayed
   * ACK carries the larger window, and a reader that keeps up does not turn
   * every data segment into an ACK (measured: one ACK per segment capped bulk
   * upload through TUN near 0.15 Gbit/s).
   */
  windowUpdateDue(): boolean {
    const cur = this.window;
    const free = Math.max(0, this.bufSize - this.queue.size);
    return cur * 2 <= this.bufSize && free - cur >= Math.min(this.bufSize >> 1, this.mss);
  }

  /**
   * Takes segment text that starts at `seq`, already trimmed to the window
   * (RCV.NXT ≤ seq, end ≤ advertised edge), and a FIN flag. Returns the number
   * of bytes that became readable.
   */
  accept(seq: number, data: Uint8Array, fin: boolean, keepable = false, lease?: BufferLease): number {
    if (data.length > 0 && data.length > this.mss) this.mss = data.length;
    if (seq === this.nxt) {
      const before = this.queue.size;
      if (data.length > 0) {
        this.enqueue(data, keepable, lease);
        this.nxt = seqAdd(this.nxt, data.length);
      }
      if (fin) this.oooFin = this.nxt;
      const filled = this.drainOoo();
      if (this.oooFin !== undefined && this.oooFin === this.nxt) {
        this.finReceived = true;
        this.oooFin = undefined;
        this.nxt = seqAdd(this.nxt, 1);
        // No text follows a FIN: let go of the receive array (what is queued keeps its bytes), so a
        // connection in TIME-WAIT or CLOSE-WAIT does not hold up to 64 KiB it will never fill.
        this.tail = undefined;
        this.tailUsed = 0;
        // RFC 9293 §3.10.7.4 "eighth, check the FIN bit": "send an acknowledgment for the FIN".
        this.ackNow = true;
      }
      if (filled) {
        // RFC 5681 §4.2: "an immediate ACK SHOULD be generated when an incoming segment fills in all or part of a gap".
        this.ackNow = true;
      } else if (data.length > 0) {
        this.scheduleAck();
      }
      return this.queue.size - before;
    }
    // RFC 5681 §4.2: "A TCP receiver SHOULD send an immediate duplicate ACK when an out-of-order segment arrives".
    this.ackNow = true;
    this.quickAcks = Math.max(this.quickAcks, 2);
    if (data.length > 0) this.insertOoo(seq, data);
    if (fin) this.oooFin = seqAdd(seq, data.length);
    return 0;
  }

  /**
   * Copies in-order text to the queue: into the current backing array when it fits, merged with
   * the queue's last chunk; a segment of at least RCV_CHUNK_MIN_SEGMENT that does not fit starts a
   * new array; a smaller one gets an exact copy. The packet's own bytes are kept only when the link
   * gave them away, for a large segment while little is queued (RCV_KEEP_QUEUED_MAX): a link may reuse
   * its receive buffers, and a held segment pins a whole receive slab.
   */
  private enqueue(data: Uint8Array, keepable: boolean, lease: BufferLease | undefined): void {
    const n = data.length;
    const start = this.queuedTotal;
    this.queuedTotal = start + n;
    let t = this.tail;
    let used = this.tailUsed;
    if (t === undefined || t.length - used < n) {
      if (n < RCV_CHUNK_MIN_SEGMENT || n >= RCV_CHUNK_MAX_SEGMENT) {
        if (keepable && n >= RCV_CHUNK_MAX_SEGMENT && this.queue.size < RCV_KEEP_QUEUED_MAX) {
          if (lease !== undefined) {
            lease.hold();
            this.kept ??= [];
            this.kept.push({ lease, start, end: start + n, given: false });
          }
          this.queue.append(data);
        } else {
          this.queue.append(data.slice());
        }
        return;
      }
      t = new Uint8Array(Math.max(n, RCV_CHUNK));
      used = 0;
      this.tail = t;
      this.tailGiven = false;
    }
    t.set(data, used);
    this.queue.appendRange(t, used, n);
    this.tailUsed = used + n;
  }

  private scheduleAck(): void {
    if (this.quickAcks > 0) {
      this.quickAcks--;
      this.ackNow = true;
    } else if (seqSize(this.lastAckSent, this.nxt) > this.mss) {
      // RFC 9293 §3.8.6.3: "an ACK should be generated for at least every second full-sized segment"
      // (as Linux: more than one full segment not yet acknowledged).
      this.ackNow = true;
    } else {
      this.ackPending = true;
    }
  }

  private insertOoo(seq: number, data: Uint8Array): void {
    const end = seqAdd(seq, data.length);
    let cur = seq;
    const pieces: OooSegment[] = [];
    let dup = false;
    for (const e of this.ooo) {
      const eEnd = seqAdd(e.seq, e.data.length);
      if (seqLessThanEq(eEnd, cur)) continue;
      if (seqLessThanEq(end, e.seq)) break;
      if (seqLessThan(cur, e.seq)) {
        pieces.push({ seq: cur, data: data.slice(seqSize(seq, cur), seqSize(seq, e.seq)) });
      }
      const ds = seqMax(cur, e.seq);
      const de = seqLessThan(end, eEnd) ? end : eEnd;
      if (!dup && seqLessThan(ds, de)) {
        this.setDsack(ds, de);
        dup = true;
      }
      cur = seqMax(cur, eEnd);
      if (!seqLessThan(cur, end)) break;
    }
    if (seqLessThan(cur, end)) pieces.push({ seq: cur, data: data.slice(seqSize(seq, cur)) });
    for (const p of pieces) {
      let i = this.ooo.length;
      while (i > 0 && seqGreaterThan(this.ooo[i - 1]!.seq, p.seq)) i--;
      this.ooo.splice(i, 0, p);
      this.oooBytes += p.data.length;
    }
    this.recent = [seq, ...this.recent.filter((s) => s !== seq)].slice(0, 4);
  }

  /** Moves out-of-order data that RCV.NXT reached into the queue; returns whether any moved. */
  private drainOoo(): boolean {
    let moved = false;
    while (this.ooo.length > 0) {
      const e = this.ooo[0]!;
      if (seqGreaterThan(e.seq, this.nxt)) break;
      this.ooo.shift();
      this.oooBytes -= e.data.length;
      const skip = seqSize(e.seq, this.nxt);
      if (skip < e.data.length) {
        this.queue.append(e.data.subarray(skip));
        this.nxt = seqAdd(e.seq, e.data.length);
      }
      moved = true;
    }
    return moved;
  }

  /** Records a duplicate range to report in the next ACK (RFC 2883 §4 "the first SACK block ... D-SACK"). */
  setDsack(start: number, end: number): void {
    if (!this.sackEnabled) return;
    this.dsackStart = start;
    this.dsackEnd = end;
    this.hasDsack = true;
  }

  /**
   * The SACK blocks for our next ACK, flat [left, right, ...] (RFC 2018 §4):
   * a D-SACK block first if one is owed (RFC 2883 §4), then the block holding
   * the most recently received segment, then other recent blocks.
   */
  sackBlocks(max: number, out: number[]): number[] {
    if (out.length !== 0) out.length = 0;
    if (!this.sackEnabled) return out;
    if (this.hasDsack) {
      out.push(this.dsackStart, this.dsackEnd);
      this.hasDsack = false;
    }
    if (this.ooo.length === 0) return out;
    return this.oooSackBlocks(max, out);
  }

  /**
   * `sackBlocks` with out-of-order data held. Apart so that `sackBlocks`, run for every ACK, holds no
   * closure: JSC allocates a scope for a function's captured variables on every call (issue 10).
   */
  private oooSackBlocks(max: number, out: number[]): number[] {
    const ranges: number[] = [];
    for (const e of this.ooo) {
      const end = seqAdd(e.seq, e.data.length);
      const n = ranges.length;
      if (n > 0 && ranges[n - 1] === e.seq) ranges[n - 1] = end;
      else ranges.push(e.seq, end);
    }
    const used = new Set<number>();
    const addRangeFor = (seq: number) => {
      for (let i = 0; i < ranges.length; i += 2) {
        if (used.has(i)) continue;
        const l = ranges[i]!;
        const r = ranges[i + 1]!;
        if (seqLessThanEq(l, seq) && seqLessThan(seq, r)) {
          used.add(i);
          out.push(l, r);
          return;
        }
      }
    };
    for (const s of this.recent) {
      if (out.length >= 2 * max) break;
      addRangeFor(s);
    }
    for (let i = 0; i < ranges.length && out.length < 2 * max; i += 2) {
      if (used.has(i)) continue;
      used.add(i);
      out.push(ranges[i]!, ranges[i + 1]!);
    }
    return out;
  }

  /**
   * Takes up to `n` readable bytes out of the queue. When the first queued chunk holds at least
   * READ_VIEW_MIN bytes, only bytes of that chunk are returned (a view, no copy; the reader asks
   * again for the rest, as it would after a short read of a socket); otherwise up to `n` bytes
   * across chunks, copied into one array.
   */
  read(n: number): Uint8Array {
    const first = this.queue.first();
    const k =
      first !== undefined && first.length >= READ_VIEW_MIN
        ? Math.min(n, first.length)
        : Math.min(n, this.queue.size);
    // Queued bytes are our own copies, not written again while a reader may hold them (`enqueue` only
    // writes past them; `tailGiven` stops a rewind), or bytes a link gave away (`dataKeepable`), so a
    // view of one chunk is safe to hand out.
    const out = this.queue.slice(0, k);
    this.queue.trimFront(k);
    this.tailGiven = true;
    this.taken(k, true);
    // Nothing left to read: let go of an array that is nearly full (the next segment would start a new
    // one anyway), so an idle connection does not hold it.
    if (
      this.queue.size === 0 &&
      this.tail !== undefined &&
      this.tail.length - this.tailUsed < RCV_CHUNK / 4
    ) {
      this.tail = undefined;
      this.tailUsed = 0;
    }
    return out;
  }

  /**
   * Copies up to `dst.length` readable bytes into `dst` and takes them out of the queue; returns how
   * many. No view leaves the stack, so the memory behind them is reused: the receive array is rewound
   * once all of it was read, and link buffers held through a lease are released (issue 10: a reader
   * that copies, like the discard service, then costs no allocation per received byte).
   */
  readInto(dst: Uint8Array): number {
    const k = this.queue.copyTo(dst, 0, 0, Math.min(dst.length, this.queue.size));
    this.queue.trimFront(k);
    this.taken(k, false);
    if (this.queue.size === 0 && this.tail !== undefined && !this.tailGiven) this.tailUsed = 0;
    return k;
  }

  /** Drops the queued text unread (the user shut reading down): held link buffers are released. */
  dropQueued(): void {
    const k = this.queue.size;
    this.queue.trimFront(k);
    this.taken(k, false);
  }

  /** Moves the read offset past `k` taken bytes; `viewed`: they left as views (kept buffers stay held). */
  private taken(k: number, viewed: boolean): void {
    const end = this.takenTotal + k;
    this.takenTotal = end;
    const kept = this.kept;
    if (kept === undefined || kept.length === 0) return;
    if (viewed) for (let i = 0; i < kept.length && kept[i]!.start < end; i++) kept[i]!.given = true;
    let done = 0;
    while (done < kept.length && kept[done]!.end <= end) {
      const c = kept[done++]!;
      if (!c.given) c.lease.release();
    }
    if (done > 0) kept.splice(0, done);
  }

  /** Drops everything held (on reset). */
  clear(): void {
    // Queued text stays readable after a reset, so held link buffers stay held (the link leaves them to
    // the garbage collector); only the records go.
    this.kept = undefined;
    this.tail = undefined;
    this.tailUsed = 0;
    this.ooo = [];
    this.oooBytes = 0;
  }
}
