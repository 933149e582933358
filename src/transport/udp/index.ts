export * from "./datagram-endpoint.ts";
export * from "./udp.ts";
