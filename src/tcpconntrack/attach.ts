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
 */
import type { ConnTable, HookKind } from "./table.ts";

/** The part of the Stack this needs (structural, so any hook host fits). */
export interface PacketHookHost {
  addHook(kind: HookKind, fn: (netProto: number, bytes: Uint8Array, nic: number) => unknown): () => void;
}

/** Outbound packets remembered for the loopback check. */
const RECENT = 32;
/** Leading bytes kept of each (IP and transport headers). */
const HEAD = 64;

/** Attaches `table` to `stack`'s hooks; returns the function that detaches it. */
export function attachConnTable(stack: PacketHookHost, table: ConnTable): () => void {
  const bufs: (ArrayBufferLike | undefined)[] = new Array(RECENT).fill(undefined);
  const offs = new Int32Array(RECENT);
  const lens = new Int32Array(RECENT);
  const heads = new Uint8Array(RECENT * HEAD);
  let next = 0;

  const remember = (b: Uint8Array): void => {
    bufs[next] = b.buffer;
    offs[next] = b.byteOffset;
    lens[next] = b.length;
    const n = Math.min(HEAD, b.length);
    const at = next * HEAD;
    for (let i = 0; i < n; i++) heads[at + i] = b[i]!;
    next = (next + 1) % RECENT;
  };

  /**
   * Whether `b` is a packet just sent: the same bytes of the same buffer. The header copy tells
   * a looped-back packet from a new one that a link received into a reused buffer (a reply built
   * in place in a receive buffer, then the next packet read into it).
   */
  const sentByUs = (b: Uint8Array): boolean => {
    const buf = b.buffer;
    for (let k = 0; k < RECENT; k++) {
      if (bufs[k] !== buf || offs[k] !== b.byteOffset || lens[k] !== b.length) continue;
      bufs[k] = undefined;
      const n = Math.min(HEAD, b.length);
      const at = k * HEAD;
      for (let i = 0; i < n; i++) if (heads[at + i] !== b[i]) return false;
      return true;
    }
    return false;
  };

  const offInbound = stack.addHook("inbound", (netProto, bytes) => {
    if (!sentByUs(bytes)) table.observe("inbound", netProto, bytes);
  });
  const offOutbound = stack.addHook("outbound", (netProto, bytes) => {
    remember(bytes);
    table.observe("outbound", netProto, bytes);
  });
  const offForwarded = stack.addHook("forwarded", (netProto, bytes) => {
    table.markForwarded(netProto, bytes);
  });
  return () => {
    offInbound();
    offOutbound();
    offForwarded();
    bufs.fill(undefined);
  };
}
