/**
 * IP datagram reassembly shared by IPv4 (RFC 791 §3.2, RFC 815 hole tracking)
 * and IPv6 (RFC 8200 §4.5, RFC 5722 overlaps).
 *
 * The network layer parses its own fragment fields and hands the reassembler
 * `(key, offset, more, data)`. The reassembler copies the fragment's bytes
 * (the link may reuse its receive buffer after delivery), keeps the pieces
 * sorted by offset, and returns the datagram's payload as a `VectorisedView`
 * once every byte from 0 to the end given by the last fragment has arrived.
 *
 * A peer cannot exhaust memory: every datagram and fragment is charged its
 * bytes plus a fixed overhead; above `highMemory` the oldest datagrams are
 * evicted until below `lowMemory` (gVisor's 4 MB / 3 MB, Linux's
 * ipfrag_high_thresh / ipfrag_low_thresh), no datagram may exceed
 * `maxPayloadSize`, and each datagram lives at most `timeoutMs`.
 */
import { VectorisedView } from "../../buffer/vectorised-view.ts";
import type { Address } from "../../tcpip/address.ts";
import type { Clock, Timer } from "../../tcpip/clock.ts";
import type { Stats } from "../../tcpip/stats.ts";

/** Linux `ipfrag_time` (30 s) for IPv4. RFC 791 leaves the value open; RFC 1122 §3.3.2 only asks that it be fixed. */
export const IPV4_REASSEMBLY_TIMEOUT_MS = 30_000;
/** RFC 8200 §4.5: "within 60 seconds of the reception of the first-arriving fragment" (Linux IPV6_FRAG_TIMEOUT too). */
export const IPV6_REASSEMBLY_TIMEOUT_MS = 60_000;
/** gVisor's and Linux's default memory thresholds. */
export const REASSEMBLY_HIGH_MEMORY = 4 << 20;
export const REASSEMBLY_LOW_MEMORY = 3 << 20;
/** Bytes charged per stored piece and per datagram on top of the payload bytes, so tiny fragments cost memory too. */
export const FRAGMENT_OVERHEAD = 64;
export const DATAGRAM_OVERHEAD = 256;

/**
 * What to do with a fragment that overlaps bytes already received.
 * - `discard`: RFC 5722 §4 / RFC 8200 §4.5 for IPv6: abandon the whole datagram
 *   (exact duplicates of a received fragment are dropped alone).
 * - `keepFirst`: IPv4. RFC 791 lets later data overwrite earlier data; we keep
 *   the bytes that arrived first and use the new fragment only to fill holes,
 *   so an overlapping fragment cannot rewrite a header that was already
 *   received (RFC 1858 §4, the overlapping fragment attack).
 */
export type OverlapPolicy = "discard" | "keepFirst";

export interface ReassemblerOptions<T> {
  clock: Clock;
  /** Counters: `stats.fragments` of the stack. */
  stats: Stats["fragments"];
  timeoutMs: number;
  overlap: OverlapPolicy;
  /** Largest reassembled payload (65535 minus the IP header for IPv4; 65535 for IPv6, no jumbograms). */
  maxPayloadSize?: number;
  highMemory?: number;
  lowMemory?: number;
  /**
   * Called when a datagram times out. `first` is the context given with the
   * fragment at offset 0, or undefined if it never arrived: RFC 792 and
   * RFC 8200 §4.5 send ICMP Time Exceeded (code 1) only in the first case.
   */
  onTimeout?(key: string, first: T | undefined): void;
}

export type ReassemblyResult<T> =
  | {
      readonly kind: "done";
      readonly payload: VectorisedView;
      readonly first: T | undefined;
      readonly proto: number;
    }
  | { readonly kind: "pending" }
  /** The fragment was dropped (duplicate, datagram abandoned, inconsistent, too big, ...). */
  | { readonly kind: "dropped"; readonly reason: DropReason };

export type DropReason =
  | "duplicate"
  | "overlap"
  | "tooBig"
  | "inconsistentEnd"
  | "empty"
  | "abandoned"
  | "memory";

const PENDING = { kind: "pending" } as const;
const drop = (reason: DropReason) => ({ kind: "dropped", reason }) as const;

interface Piece {
  first: number;
  end: number;
  data: Uint8Array;
}

class Datagram<T> {
  pieces: Piece[] = [];
  /** Bytes received (pieces never overlap). */
  covered = 0;
  /** End given by the fragment with more = false, -1 until it arrives. */
  total = -1;
  proto = -1;
  first: T | undefined;
  /** Memory charged to this datagram. */
  mem = DATAGRAM_OVERHEAD;
  /** Set after an overlap (RFC 5722): later fragments are dropped until the timer fires. */
  abandoned = false;
  timer: Timer | undefined;
}

/** Makes a reassembly key from the fields that identify a datagram (RFC 791 §3.2; RFC 8200 §4.5 leaves `proto` out: pass -1). */
export function fragmentKey(src: Address, dst: Address, id: number, proto = -1): string {
  const idPart = String.fromCharCode((id >>> 16) & 0xffff, id & 0xffff);
  return `${src.key}${dst.key}${idPart}${proto < 0 ? "" : String.fromCharCode(proto & 0xff)}`;
}

export class Reassembler<T = unknown> {
  private readonly datagrams = new Map<string, Datagram<T>>();
  private memory = 0;
  private readonly maxPayloadSize: number;
  private readonly highMemory: number;
  private readonly lowMemory: number;

  constructor(private readonly opts: ReassemblerOptions<T>) {
    this.maxPayloadSize = opts.maxPayloadSize ?? 65535;
    this.highMemory = opts.highMemory ?? REASSEMBLY_HIGH_MEMORY;
    this.lowMemory = opts.lowMemory ?? REASSEMBLY_LOW_MEMORY;
    if (this.lowMemory > this.highMemory)
      throw new RangeError("Cannot make a reassembler: low memory above high");
  }

  /** Bytes currently charged (payload plus overheads). */
  get memoryUsed(): number {
    return this.memory;
  }

  /** Datagrams being reassembled (including abandoned ones waiting for their timer). */
  get size(): number {
    return this.datagrams.size;
  }

  /**
   * Adds one fragment. `offset` is in bytes, `data` its payload (copied),
   * `proto` the upper protocol carried in this fragment (kept from offset 0),
   * `first` a context kept when `offset` is 0 (for ICMP on timeout).
   */
  process(
    key: string,
    offset: number,
    more: boolean,
    proto: number,
    data: Uint8Array,
    first?: T,
  ): ReassemblyResult<T> {
    const st = this.opts.stats;
    st.received++;
    const len = data.length;
    const end = offset + len;
    if (end > this.maxPayloadSize) {
      st.dropped++;
      this.abandon(key);
      return drop("tooBig");
    }
    // RFC 6946 §4: an atomic fragment (offset 0, no more) is processed in isolation.
    if (offset === 0 && !more) {
      st.reassembled++;
      return { kind: "done", payload: new VectorisedView([data]), first, proto };
    }
    if (len === 0 && more) {
      st.dropped++;
      return drop("empty");
    }

    let d = this.datagrams.get(key);
    if (d?.abandoned) {
      st.dropped++;
      return drop("abandoned");
    }
    if (!d) {
      d = new Datagram<T>();
      this.datagrams.set(key, d);
      this.memory += d.mem;
      const dg = d;
      d.timer = this.opts.clock.afterFunc(this.opts.timeoutMs, () => this.expire(key, dg));
    }

    // The end of the datagram is fixed by the last fragment; anything
    // contradicting it makes the datagram unusable (RFC 8200 §4.5 / Linux ip_frag_queue).
    if (d.total >= 0 ? end > d.total || (!more && end !== d.total) : !more && lastEnd(d) > end) {
      st.dropped++;
      this.remove(key, d);
      return drop("inconsistentEnd");
    }

    // An empty last fragment only fixes the end.
    const added =
      len === 0
        ? d.total === end
          ? 0
          : 1
        : this.opts.overlap === "discard"
          ? this.insertDiscard(d, offset, end, data)
          : this.insertKeepFirst(d, offset, end, data);
    if (added === "overlap") {
      st.dropped++;
      st.overlapsDiscarded++;
      this.discard(key, d);
      return drop("overlap");
    }
    if (added === 0) {
      st.dropped++;
      return drop("duplicate");
    }
    if (!more) d.total = end;
    if (offset === 0) {
      d.proto = proto;
      d.first = first;
    }

    if (d.total >= 0 && d.covered === d.total) {
      const payload = new VectorisedView(d.pieces.map((p) => p.data));
      const res = { kind: "done", payload, first: d.first, proto: d.proto } as const;
      this.remove(key, d);
      st.reassembled++;
      return res;
    }

    if (this.memory > this.highMemory) this.evict(d);
    if (!this.datagrams.has(key)) return drop("memory");
    return PENDING;
  }

  /** Drops every datagram and stops every timer (NIC removed, stack closed). */
  clear(): void {
    for (const [k, d] of this.datagrams) this.remove(k, d);
  }

  /** RFC 5722: an overlap in IPv6 abandons the datagram; exact duplicates are dropped alone. */
  private insertDiscard(d: Datagram<T>, first: number, end: number, data: Uint8Array): number | "overlap" {
    const ps = d.pieces;
    const i = lowerBound(ps, first);
    // The piece before may reach into [first, end); the piece at i may start before end.
    const prev = ps[i - 1];
    const next = ps[i];
    if (next && next.first === first && next.end === end) return 0;
    if ((prev && prev.end > first) || (next && next.first < end)) return "overlap";
    this.addPiece(d, i, first, end, data.slice());
    return end - first;
  }

  /** Fills only the holes of `[first, end)`; returns the bytes added. */
  private insertKeepFirst(d: Datagram<T>, first: number, end: number, data: Uint8Array): number {
    const ps = d.pieces;
    let i = lowerBound(ps, first);
    const prev = ps[i - 1];
    let at = prev && prev.end > first ? prev.end : first;
    let added = 0;
    while (at < end) {
      const next = ps[i];
      const holeEnd = next ? Math.min(next.first, end) : end;
      if (holeEnd > at) {
        this.addPiece(d, i, at, holeEnd, data.slice(at - first, holeEnd - first));
        added += holeEnd - at;
        i++;
      }
      if (!next) break;
      at = Math.max(at, next.end);
      i++;
    }
    return added;
  }

  private addPiece(d: Datagram<T>, i: number, first: number, end: number, data: Uint8Array): void {
    d.pieces.splice(i, 0, { first, end, data });
    d.covered += end - first;
    const cost = end - first + FRAGMENT_OVERHEAD;
    d.mem += cost;
    this.memory += cost;
  }

  /** Evicts the oldest datagrams (Map order is arrival order) until below `lowMemory`, the current one last. */
  private evict(current: Datagram<T>): void {
    for (const [k, d] of this.datagrams) {
      if (this.memory <= this.lowMemory) return;
      if (d === current) continue;
      this.opts.stats.memoryPressureDrops++;
      this.remove(k, d);
    }
    if (this.memory > this.lowMemory) {
      for (const [k, d] of this.datagrams) {
        if (d !== current) continue;
        this.opts.stats.memoryPressureDrops++;
        this.remove(k, d);
      }
    }
  }

  private abandon(key: string): void {
    const d = this.datagrams.get(key);
    if (d && !d.abandoned) this.discard(key, d);
  }

  /** Frees the datagram's data but keeps a tombstone until its timer fires, so later fragments are dropped (RFC 5722 §4). */
  private discard(_key: string, d: Datagram<T>): void {
    this.memory -= d.mem - DATAGRAM_OVERHEAD;
    d.mem = DATAGRAM_OVERHEAD;
    d.pieces = [];
    d.covered = 0;
    d.first = undefined;
    d.abandoned = true;
  }

  private remove(key: string, d: Datagram<T>): void {
    d.timer?.stop();
    this.memory -= d.mem;
    this.datagrams.delete(key);
  }

  private expire(key: string, d: Datagram<T>): void {
    if (this.datagrams.get(key) !== d) return;
    this.remove(key, d);
    if (d.abandoned) return;
    this.opts.stats.timedOut++;
    this.opts.onTimeout?.(key, d.first);
  }
}

function lastEnd(d: Datagram<unknown>): number {
  const last = d.pieces[d.pieces.length - 1];
  return last ? last.end : 0;
}

/** Index of the first piece starting at or after `first`. */
function lowerBound(ps: readonly Piece[], first: number): number {
  let lo = 0;
  let hi = ps.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (ps[mid]!.first < first) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
