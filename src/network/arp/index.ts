export * from "./arp.ts";
