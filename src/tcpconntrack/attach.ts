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
 *   views are remembered and an inbound view over the same bytes is skipped.
 */
import type { ConnTable, HookKind } from "./table.ts";

/** The part of the Stack this needs (structural, so any hook host fits). */
export interface PacketHookHost {
  addHook(kind: HookKind, fn: (netProto: number, bytes: Uint8Array, nic: number) => unknown): () => void;
}

/** Outbound packets remembered for the loopback check. */
const RECENT = 32;

/** Attaches `table` to `stack`'s hooks; returns the function that detaches it. */
export function attachConnTable(stack: PacketHookHost, table: ConnTable): () => void {
  const bufs: (ArrayBufferLike | undefined)[] = new Array(RECENT).fill(undefined);
  const offs = new Int32Array(RECENT);
  const lens = new Int32Array(RECENT);
  let next = 0;

  const sentByUs = (b: Uint8Array): boolean => {
    const buf = b.buffer;
    for (let i = 0; i < RECENT; i++) {
      if (bufs[i] === buf && offs[i] === b.byteOffset && lens[i] === b.length) {
        bufs[i] = undefined;
        return true;
      }
    }
    return false;
  };

  const offInbound = stack.addHook("inbound", (netProto, bytes) => {
    if (!sentByUs(bytes)) table.observe("inbound", netProto, bytes);
  });
  const offOutbound = stack.addHook("outbound", (netProto, bytes) => {
    bufs[next] = bytes.buffer;
    offs[next] = bytes.byteOffset;
    lens[next] = bytes.length;
    next = (next + 1) % RECENT;
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
