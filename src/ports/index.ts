export * from "./port-manager.ts";
