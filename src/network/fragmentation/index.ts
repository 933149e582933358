export * from "./reassembler.ts";
