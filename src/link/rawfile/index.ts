export * from "./constants.ts";
export * from "./errno.ts";
export { execve } from "./exec.ts";
export { lastErrno, libc } from "./libc.ts";
export * from "./mmsg.ts";
export * from "./syscalls.ts";
