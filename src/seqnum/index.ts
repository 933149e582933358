export * from "./seqnum.ts";
