export * from "./connection-endpoint.ts";
export * from "./datagram-endpoint.ts";
export * from "./namespace.ts";
