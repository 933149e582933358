export * from "./fragment.ts";
export * from "./icmp.ts";
export * from "./id-generator.ts";
export * from "./igmp.ts";
export * from "./ipv4.ts";
