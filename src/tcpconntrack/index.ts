/**
 * Connection tracking: `Tcb` (one TCP connection seen from the middle, pure),
 * `ConnTable` (every TCP/UDP/ICMP-echo flow, IPv4 and IPv6, with counters,
 * Linux-like timeouts, a bound with eviction, a change feed and `snapshot()`),
 * and `attachConnTable` (feeds a table from a stack's packet hooks).
 *
 *     const table = new ConnTable({ clock: stack.clock, maxEntries: 65536 });
 *     const detach = attachConnTable(stack, table);
 *     table.onChange((ev) => queue.push(ev));   // "new" | "update" | "destroy"
 *     table.snapshot();                          // ConnectionRecord[]: FlowView fields and more
 */
export * from "./attach.ts";
export { decodeKey, FlowPacket, flowKey, parseFlowPacket } from "./parse.ts";
export * from "./table.ts";
export * from "./tcb.ts";
