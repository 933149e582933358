export * from "./halfsiphash.ts";
export * from "./port-manager.ts";
