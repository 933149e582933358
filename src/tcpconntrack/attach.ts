/**
 * Feeds a `ConnTable` from a stack's packet hooks.
 *
 * What the stack's hooks see (src/stack): "inbound" runs on every packet a
 * NIC receives, before IP processing, also on packets that are then routed
 * on; "outbound" on every packet the stack sends; "forwarded" on packets it
 * routes out. So:
 * - inbound and outbound packets are tracked;
 * - a forwarded packet was tracked when it came in, so the forwarded hook
 *   only marks its entry (it is not counted twice);
 * - a packet the stack sends to itself (loopback, or to its own address on
 *   another NIC) passes "outbound" and then "inbound" as the same buffer.
 *   Like Linux, which attaches the conntrack entry to the skb in OUTPUT and
 *   skips it in PREROUTING, it is tracked once: the last few outbound byte
 *   views are remembered (buffer, offset, length and a copy of the headers)
 *   and an inbound view over the same, unchanged bytes is skipped.
 *
 * Time: a host with `batchNow` (the Stack) gives each packet the time of the
 * link batch it belongs to, read once per batch, instead of a clock read per
 * packet (~60 ns each); used only when the host's clock is the table's, so the
 * times are on one clock. Every packet of a batch then reads as seen when the
 * stack first asked for the batch's time: early by at most the batch's length,
 * where timeouts are seconds (Linux's conntrack counts in jiffies, 1-10 ms).
 */
import type { Clock } from "../tcpip/clock.ts";
import type { ConnTable, HookKind } from "./table.ts";

/** The part of the Stack this needs (structural, so any hook host fits). */
export interface PacketHookHost {
  addHook(kind: HookKind, fn: (netProto: number, bytes: Uint8Array, nic: number) => unknown): () => void;
  /**
   * The same with the packet's array and range instead of a view (the Stack has it): used when present,
   * so that a packet costs no view and no `ArrayBuffer` object (issue 10).
   */
  addRangeHook?(
    kind: HookKind,
    fn: (netProto: number, data: Uint8Array, off: number, len: number, nic: number) => unknown,
  ): () => void;
  /** The host's clock: `batchNow` is used only when it is the table's. */
  readonly clock?: Clock;
  /**
   * Optional (the Stack has it): the time on `clock` of the packet batch being delivered, read once
   * per link batch; outside a batch, the clock's time.
   */
  batchNow?(): number;
}

/** Outbound packets remembered for the loopback check. */
const RECENT = 32;
/** Leading bytes kept of each (IP and transport headers). */
const HEAD = 64;

/** Attaches `table` to `stack`'s hooks; returns the function that detaches it. */
export function attachConnTable(stack: PacketHookHost, table: ConnTable): () => void {
  const arrs: (Uint8Array | undefined)[] = new Array(RECENT).fill(undefined);
  const offs = new Int32Array(RECENT);
  const lens = new Int32Array(RECENT);
  const heads = new Uint8Array(RECENT * HEAD);
  let next = 0;

  // Packets are told apart by their bytes' place in memory: the array's buffer and the absolute offset.
  // The buffer is looked at only when the offset and length match and the arrays differ (rare): reading
  // `.buffer` makes JSC create an ArrayBuffer object for an array that had none.
  const remember = (b: Uint8Array, off: number, len: number): void => {
    arrs[next] = b;
    offs[next] = b.byteOffset + off;
    lens[next] = len;
    const n = Math.min(HEAD, len);
    const at = next * HEAD;
    for (let i = 0; i < n; i++) heads[at + i] = b[off + i]!;
    next = (next + 1) % RECENT;
  };

  /**
   * Whether `b[off, off + len)` is a packet just sent: the same bytes of the same buffer. The header copy
   * tells a looped-back packet from a new one that a link received into a reused buffer (a reply built
   * in place in a receive buffer, then the next packet read into it).
   */
  const sentByUs = (b: Uint8Array, off: number, len: number): boolean => {
    const abs = b.byteOffset + off;
    for (let k = 0; k < RECENT; k++) {
      const a = arrs[k];
      if (a === undefined || offs[k] !== abs || lens[k] !== len) continue;
      const n = Math.min(HEAD, len);
      const at = k * HEAD;
      let same = true;
      for (let i = 0; i < n && same; i++) same = heads[at + i] === b[off + i];
      // Other bytes: a new packet in a reused buffer, or another buffer. The buffer is compared last (above).
      if (!same || (a !== b && a.buffer !== b.buffer)) continue;
      arrs[k] = undefined;
      return true;
    }
    return false;
  };

  // The batch's time when the host has one on the table's clock; else undefined: the table reads its clock.
  const batchTime = stack.batchNow !== undefined && stack.clock === table.clock;
  const onInbound = (netProto: number, b: Uint8Array, off: number, len: number): void => {
    if (!sentByUs(b, off, len))
      table.observe("inbound", netProto, b, off, len, batchTime ? stack.batchNow!() : undefined);
  };
  const onOutbound = (netProto: number, b: Uint8Array, off: number, len: number): void => {
    remember(b, off, len);
    table.observe("outbound", netProto, b, off, len, batchTime ? stack.batchNow!() : undefined);
  };
  const onForwarded = (netProto: number, b: Uint8Array, off: number, len: number): void => {
    table.markForwarded(netProto, b, off, len);
  };
  const offs3 = stack.addRangeHook
    ? [
        stack.addRangeHook("inbound", onInbound),
        stack.addRangeHook("outbound", onOutbound),
        stack.addRangeHook("forwarded", onForwarded),
      ]
    : [
        stack.addHook("inbound", (p, b) => onInbound(p, b, 0, b.length)),
        stack.addHook("outbound", (p, b) => onOutbound(p, b, 0, b.length)),
        stack.addHook("forwarded", (p, b) => onForwarded(p, b, 0, b.length)),
      ];
  return () => {
    for (const off of offs3) off();
    arrs.fill(undefined);
  };
}
