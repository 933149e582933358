export * from "./errors.ts";
export * from "./server.ts";
export * from "./socket.ts";
