/**
 * Bulk TCP between the Linux kernel and the user-space stack over TUN, both
 * directions, byte-exact by SHA-256, with and without IFF_VNET_HDR offload
 * and at MTU 1500 and 9000:
 * - kernel → stack: a kernel socket sends the seeded pattern into a stack sink
 *   (discard-style) that hashes it and answers with the count and hash after
 *   the kernel's FIN;
 * - stack → kernel: a stack source (chargen-style, but a seeded pattern and a
 *   fixed length) sends to the kernel, which hashes with `sha256sum`.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { pattern, sha256 } from "./drivers/pattern.ts";
import { BUN, canNetns, closeAll, KERNEL_TOOL, type Link, openLink } from "./harness.ts";

const MB = 1 << 20;
/** Bytes per transfer (override with INTEROP_BULK_MB for a longer run). */
const SIZE = Number(process.env.INTEROP_BULK_MB ?? 100) * MB;
const SEED = 0x5eed1234;
const expected = sha256(pattern(SIZE, SEED));

const rates: string[] = [];

describe.skipIf(!canNetns)("bulk TCP, kernel and user-space stack over TUN", () => {
  afterAll(async () => {
    await closeAll();
    if (rates.length) console.log(`interop bulk rates (${SIZE / MB} MB each):\n  ${rates.join("\n  ")}`);
  });

  const configs = [
    { offload: false, mtu: 1500 },
    { offload: true, mtu: 1500 },
    { offload: false, mtu: 9000 },
    { offload: true, mtu: 9000 },
  ];
  for (const c of configs) {
    const label = `${c.offload ? "offload" : "no offload"}, MTU ${c.mtu}`;
    test(`${SIZE / MB} MB each way, byte-exact (${label})`, async () => {
      const link: Link = await openLink({ mode: "tun", mtu: c.mtu, ...(c.offload ? { offload: true } : {}) });
      try {
        await link.driver.cmd("sink", { port: 9009 });
        await link.driver.cmd("source", { port: 1919, bytes: SIZE, seed: SEED });

        const up = await link.run(
          [BUN, KERNEL_TOOL, "send", link.stack4, "9009", String(SIZE), String(SEED)],
          {
            timeoutMs: 120_000,
          },
        );
        const upRes = JSON.parse(up.stdout.trim() || "{}") as { reply?: string; ms?: number; error?: string };
        expect(upRes.error).toBeUndefined();
        expect(upRes.reply).toBe(`${SIZE} ${expected}\n`);
        const sink = await link.driver.event((e) => e.event === "sink", "sink report");
        expect(sink.sha256).toBe(expected);

        const down = await link.run(["sh", "-c", `socat -u TCP4:${link.stack4}:1919 STDOUT | sha256sum`], {
          timeoutMs: 120_000,
        });
        expect(down.stdout.split(" ")[0]).toBe(expected);
        const src = await link.driver.event((e) => e.event === "source", "source report");
        rates.push(
          `${label}: kernel→stack ${(SIZE / MB / ((upRes.ms ?? 0) / 1000)).toFixed(1)} MB/s, ` +
            `stack→kernel ${(SIZE / MB / ((src.ms as number) / 1000)).toFixed(1)} MB/s`,
        );
      } finally {
        await link.close();
      }
    }, 240_000);
  }
});
