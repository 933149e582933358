import type { BatchDeferred, StackContext } from "../../../stack/registration.ts";
import type { RawPeer } from "./peer.ts";

/**
 * Gives the peer's stack the batch hook a `Stack` has (issue 10): `run` delivers inside one
 * link batch, then flushes what TCP put off until the batch's end, in order.
 */
export function withBatches(p: RawPeer): { run: (fn: () => void) => void } {
  let depth = 0;
  let queued: BatchDeferred[] = [];
  (p.stack as StackContext).deferUntilBatchEnd = (item) => {
    if (depth === 0) return false;
    queued.push(item);
    return true;
  };
  return {
    run(fn) {
      depth++;
      try {
        fn();
      } finally {
        depth--;
        const q = queued;
        queued = [];
        for (const item of q) item.flushDeferred();
      }
    },
  };
}
