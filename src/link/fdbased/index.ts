export * from "./fd-endpoint.ts";
