export * from "./waiter.ts";
