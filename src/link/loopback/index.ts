export { LOOPBACK_MTU, LoopbackEndpoint, type LoopbackOptions } from "./loopback.ts";
