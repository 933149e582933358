export * from "./arp.ts";
export * from "./checksum.ts";
export * from "./ethernet.ts";
export * from "./icmpv4.ts";
export * from "./ipv4.ts";
export * from "./tcp.ts";
export * from "./udp.ts";
