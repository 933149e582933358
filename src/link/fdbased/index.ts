export * from "./fd-endpoint.ts";
export * from "./virtio-net.ts";
