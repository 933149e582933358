export * from "./errors.ts";
export * from "./server.ts";
export * from "./socket.ts";
export * from "./unix.ts";
export * from "./web-streams.ts";
