/** Shared-state values between `fd-endpoint.ts` and `poll-worker.ts` (slot 0 of an Int32Array over a SharedArrayBuffer). */

/** The worker polls the fd; the main thread waits for READY. */
export const POLL_ARMED = 0;
/** The fd is readable; the main thread drains it and stores ARMED when done. */
export const POLL_READY = 1;
/** Shut down (slot `POLL_ERRNO` holds an errno if the worker's poll failed). */
export const POLL_STOP = 2;

/** Slot holding the errno of a failed poll(). */
export const POLL_ERRNO = 1;
/** Slot set to 1 once poll() reported POLLHUP: a read of 0 bytes then means end of file, not an empty packet. */
export const POLL_HANGUP = 2;
/** Int32 slots in the shared state. */
export const POLL_SLOTS = 4;

export const EINTR_CODE = 4;

export interface PollWorkerStart {
  state: SharedArrayBuffer;
  fd: number;
  wakeFd: number;
}
