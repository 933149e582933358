/**
 * Shared-memory link throughput between two Workers: one Worker writes IPv4/UDP
 * packets of a fixed size through a `SharedMemEndpoint` as fast as the lane
 * takes them, the other receives them through its own endpoint (copy out,
 * hand to a dispatcher that checks the order). Prints packets/s and GB/s
 * measured by the receiver (first packet to end marker). Print only.
 *
 *   bun bench/sharedmem.bench.ts [durationMs] [runs] [spinMs]
 *
 * With `spinMs` > 0 both endpoints keep polling that long before sleeping;
 * on the 2-CPU VM this was written on, spinning cost far more than it saved
 * (the spinning side takes the CPU the other side needs), so it is off by default.
 */
import { createSharedMemRegion, type SharedMemRegionOptions } from "../src/link/sharedmem/region.ts";
import type { PeerReport, PeerStart } from "../src/link/sharedmem/testing/peer-worker.ts";

const durationMs = Number(process.argv[2] ?? 1000);
const runs = Number(process.argv[3] ?? 3);
const spinArg = Number(process.argv[4] ?? 0);
const workerUrl = new URL("../src/link/sharedmem/testing/peer-worker.ts", import.meta.url);

interface Result {
  pps: number;
  gbps: number;
  waits: number;
  wakeups: number;
}

function spawn(start: PeerStart): { worker: Worker; next: (t: PeerReport["type"]) => Promise<PeerReport> } {
  const worker = new Worker(workerUrl);
  const inbox: PeerReport[] = [];
  let wake: (() => void) | undefined;
  worker.onmessage = (e) => {
    inbox.push(e.data as PeerReport);
    wake?.();
  };
  worker.onerror = (e) => {
    console.error(e);
    process.exit(1);
  };
  worker.postMessage(start);
  return {
    worker,
    next: async (t) => {
      for (;;) {
        const i = inbox.findIndex((r) => r.type === t);
        if (i >= 0) return inbox.splice(i, 1)[0]!;
        await new Promise<void>((r) => {
          wake = r;
        });
      }
    },
  };
}

async function run(size: number, region: SharedMemRegionOptions, spinMs: number): Promise<Result> {
  const buffer = createSharedMemRegion(region);
  const rx = spawn({ role: "receive", buffer, side: 1, size, spinMs });
  const tx = spawn({ role: "send", buffer, side: 0, size, durationMs, spinMs });
  await rx.next("ready");
  await tx.next("ready");
  tx.worker.postMessage({ type: "go" });
  const done = await rx.next("done");
  const sent = await tx.next("sent");
  rx.worker.terminate();
  tx.worker.terminate();
  if (done.type !== "done" || sent.type !== "sent") throw new Error("unexpected report");
  if (done.errors !== 0 || done.received !== sent.sent) {
    throw new Error(
      `lost or reordered packets: sent ${sent.sent}, received ${done.received}, errors ${done.errors}`,
    );
  }
  const secs = done.elapsedMs / 1000;
  return {
    pps: done.received / secs,
    gbps: done.bytes / secs / 1e9,
    waits: sent.waits,
    wakeups: done.wakeups,
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

const configs: { label: string; size: number; region: SharedMemRegionOptions; spinMs: number }[] = [];
for (const spinMs of [spinArg]) {
  const spin = spinMs ? `, spin ${spinMs} ms` : "";
  configs.push(
    { label: `64 B, 256 x 2 KiB buffers${spin}`, size: 64, region: { mtu: 1500 }, spinMs },
    {
      label: `64 B, 1024 x 256 B buffers${spin}`,
      size: 64,
      region: { mtu: 1500, bufferSize: 256, bufferCount: 1024 },
      spinMs,
    },
    { label: `1500 B, 256 x 2 KiB buffers${spin}`, size: 1500, region: { mtu: 1500 }, spinMs },
    {
      label: `1500 B, 1024 x 2 KiB buffers${spin}`,
      size: 1500,
      region: { mtu: 1500, bufferCount: 1024 },
      spinMs,
    },
  );
}

console.log(`sharedmem between two Workers, ${durationMs} ms per run, median of ${runs} runs (min-max)`);
console.log(`Bun ${Bun.version}, ${navigator.hardwareConcurrency} CPUs`);
console.log("| packet, region | packets/s | GB/s | sender waits/run | receiver wake-ups/run |");
console.log("|---|---|---|---|---|");
for (const c of configs) {
  const rs: Result[] = [];
  for (let i = 0; i < runs; i++) rs.push(await run(c.size, c.region, c.spinMs));
  const pps = rs.map((r) => r.pps);
  const gb = rs.map((r) => r.gbps);
  const fmt = (x: number) => `${(x / 1e6).toFixed(2)} M`;
  console.log(
    `| ${c.label} | ${fmt(median(pps))} (${fmt(Math.min(...pps))}-${fmt(Math.max(...pps))}) | ` +
      `${median(gb).toFixed(2)} (${Math.min(...gb).toFixed(2)}-${Math.max(...gb).toFixed(2)}) | ` +
      `${median(rs.map((r) => r.waits))} | ${median(rs.map((r) => r.wakeups))} |`,
  );
}
process.exit(0);
