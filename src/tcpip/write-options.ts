import type { FullAddress } from "./full-address.ts";

/** Options for an endpoint's `write` (the seed's `WriteOptions`). */
export interface WriteOptions {
  /** Destination for unconnected datagram endpoints. */
  to?: FullAddress;
  /** More data follows soon: hold a partial segment (like `MSG_MORE`/cork). */
  more?: boolean;
  /** Ends a record for record-oriented endpoints. */
  endOfRecord?: boolean;
  /**
   * The caller never changes the written bytes afterwards (a constant pattern): a
   * stream endpoint may queue a view of them instead of a copy. Default false.
   */
  immutable?: boolean;
}

/** Ancillary data returned with a read. */
export interface ControlMessages {
  /** Receive time in ms on the stack clock, when the `Timestamp` option is on. */
  timestamp?: number;
  /** Whether this message was truncated to the read size. */
  truncated?: boolean;
  /** The sender's credentials (SCM_CREDENTIALS), when the `Passcred` option is on (unix endpoints). */
  credentials?: { pid: number; uid: number; gid: number };
}

/** The source of bytes for a write: a whole slice, or a callback that fills up to `n` bytes. */
export type Payload = Uint8Array | { readonly size: number; get(n: number): Uint8Array };

/** The seed's `SlicePayload`: a byte slice as a `Payload`. */
export function slicePayload(b: Uint8Array): Payload {
  return { size: b.length, get: (n: number) => b.subarray(0, Math.min(n, b.length)) };
}

export function payloadBytes(p: Payload, n = Number.POSITIVE_INFINITY): Uint8Array {
  if (p instanceof Uint8Array) return p.subarray(0, Math.min(n, p.length));
  return p.get(Math.min(n, p.size));
}
