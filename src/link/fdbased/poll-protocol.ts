/** Shared-state values between `fd-endpoint.ts` and `poll-worker.ts` (slot 0 of an Int32Array over a SharedArrayBuffer). */

/** The worker polls the fd; the main thread waits for READY. */
export const POLL_ARMED = 0;
/** The fd is readable; the main thread drains it and stores ARMED when done. */
export const POLL_READY = 1;
/** Shut down (slot 1 holds an errno if the worker's poll failed). */
export const POLL_STOP = 2;

export const EINTR_CODE = 4;

export interface PollWorkerStart {
  state: SharedArrayBuffer;
  fd: number;
  wakeFd: number;
}
