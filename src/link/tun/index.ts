export * from "./ifreq.ts";
export * from "./open-tun.ts";
export * from "./tun-endpoint.ts";
