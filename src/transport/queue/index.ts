export * from "./receive-queue.ts";
