export * from "./layout.ts";
export { Notifier } from "./notifier.ts";
export { RxQueue } from "./rx.ts";
export { TxQueue } from "./tx.ts";
