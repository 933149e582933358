export { type Direction, formatPacket } from "./packet-log.ts";
export * from "./pcap.ts";
export { SnifferEndpoint, type SnifferOptions } from "./sniffer.ts";
