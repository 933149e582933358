export * from "./memfd.ts";
export * from "./pipe/index.ts";
export * from "./queue/index.ts";
export * from "./region.ts";
export * from "./sharedmem.ts";
