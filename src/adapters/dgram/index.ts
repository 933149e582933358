export * from "./socket.ts";
