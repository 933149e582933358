export * from "./layout.ts";
export { PipeRx } from "./rx.ts";
export { PipeTx } from "./tx.ts";
