export * from "./checker.ts";
export * from "./pcap.ts";
