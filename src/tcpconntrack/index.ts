export * from "./attach.ts";
export { decodeKey, FlowPacket, flowKey, parseFlowPacket } from "./parse.ts";
export * from "./table.ts";
export * from "./tcb.ts";
