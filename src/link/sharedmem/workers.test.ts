import { afterEach, expect, test } from "bun:test";
import { createSharedMemRegion } from "./region.ts";
import type { PeerReport, PeerStart } from "./testing/peer-worker.ts";

const workers: Worker[] = [];
afterEach(() => {
  for (const w of workers.splice(0)) w.terminate();
});

function startPeer(start: PeerStart): {
  worker: Worker;
  next: (type: PeerReport["type"]) => Promise<PeerReport>;
} {
  const worker = new Worker(new URL("./testing/peer-worker.ts", import.meta.url));
  workers.push(worker);
  const inbox: PeerReport[] = [];
  let waiter: (() => void) | undefined;
  worker.onmessage = (e) => {
    inbox.push(e.data as PeerReport);
    waiter?.();
  };
  worker.onerror = (e) => {
    inbox.push({ type: "done", received: -1, bytes: 0, errors: 1, elapsedMs: 0, wakeups: 0 });
    console.error(e);
    waiter?.();
  };
  worker.postMessage(start);
  const next = async (type: PeerReport["type"]): Promise<PeerReport> => {
    for (;;) {
      const i = inbox.findIndex((r) => r.type === type || (r.type === "done" && r.received < 0));
      if (i >= 0) return inbox.splice(i, 1)[0]!;
      await new Promise<void>((r) => {
        waiter = r;
      });
    }
  };
  return { worker, next };
}

test("packets written in one Worker arrive, in order and byte-exact, in another; and a reply comes back", async () => {
  const buffer = createSharedMemRegion({ mtu: 1500, bufferCount: 64 });
  const count = 20_000;
  const receiver = startPeer({ role: "receive", buffer, side: 1, size: 300, verify: true });
  const sender = startPeer({ role: "send", buffer, side: 0, size: 300, count, verify: true });
  await receiver.next("ready");
  await sender.next("ready");
  sender.worker.postMessage({ type: "go" });
  const done = await receiver.next("done");
  const sent = await sender.next("sent");
  expect(done).toMatchObject({ type: "done", received: count, errors: 0, bytes: count * 300 });
  expect(sent).toMatchObject({ type: "sent", sent: count, replyOk: true });
  // 64 buffers for 20 000 packets: the sender must have waited for completions from the other thread.
  expect(sent.type === "sent" && sent.waits > 0).toBe(true);
}, 60_000);
