export * from "./ping.ts";
