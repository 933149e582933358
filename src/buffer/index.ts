export * from "./buffer-pool.ts";
export * from "./packet-buffer.ts";
export * from "./vectorised-view.ts";
