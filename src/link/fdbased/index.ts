export * from "./fd-endpoint.ts";
export { type DeadlineSource, HOT_POLL_MS, HotPoller, hotPoller } from "./hot-poller.ts";
