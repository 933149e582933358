export * from "./layout.ts";
export * from "./notifier.ts";
export { RxQueue } from "./rx.ts";
export { TxQueue } from "./tx.ts";
