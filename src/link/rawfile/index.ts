export * from "./constants.ts";
export * from "./errno.ts";
export { lastErrno, libc } from "./libc.ts";
export * from "./mmsg.ts";
export * from "./syscalls.ts";
