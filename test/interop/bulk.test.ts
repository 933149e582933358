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
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { pattern, sha256 } from "./drivers/pattern.ts";
import { BUN, canNetns, closeAll, KERNEL_TOOL, type Link, openLink, reachable } from "./harness.ts";

const MB = 1 << 20;
/** Bytes per transfer (override with INTEROP_BULK_MB for a longer run). */
const SIZE = Number(process.env.INTEROP_BULK_MB ?? 100) * MB;
const SEED = 0x5eed1234;
const expected = sha256(pattern(SIZE, SEED));
/** The IPv6 transfers are smaller: the 100 MB ones already measure the path. */
const SIZE6 = 2 * MB;
const expected6 = sha256(pattern(SIZE6, SEED));

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
    describe(label, () => {
      let link: Link;
      beforeAll(async () => {
        link = await openLink({ mode: "tun", mtu: c.mtu, ...(c.offload ? { offload: true } : {}) });
        await link.driver.cmd("sink", { port: 9009 });
        await link.driver.cmd("source", { port: 1919, bytes: SIZE, seed: SEED });
        await link.driver.cmd("source", { port: 1920, bytes: SIZE6, seed: SEED });
        await reachable(link, link.stack6);
      }, 40_000);
      afterAll(() => link?.close());

      /** Retransmitted segments so far: the kernel's (nstat, per namespace) and the stack's. */
      async function retrans(): Promise<{ kernel: number; stack: number }> {
        const n = await link.run(["nstat", "-az", "TcpRetransSegs"]);
        const kernel = Number(/TcpRetransSegs\s+(\d+)/.exec(n.stdout)?.[1] ?? Number.NaN);
        const st = await link.driver.cmd<{ tcp: { retransmits: number } }>("stats");
        return { kernel, stack: st.tcp.retransmits };
      }
      const note = (a: { kernel: number; stack: number }, b: { kernel: number; stack: number }) =>
        `(retransmitted segments: kernel ${b.kernel - a.kernel}, stack ${b.stack - a.stack})`;

      test(`kernel → stack, ${SIZE / MB} MB byte-exact`, async () => {
        const r0 = await retrans();
        const up = await link.run(
          [BUN, KERNEL_TOOL, "send", link.stack4, "9009", String(SIZE), String(SEED)],
          {
            timeoutMs: 120_000,
          },
        );
        const res = JSON.parse(up.stdout.trim() || "{}") as { reply?: string; ms?: number; error?: string };
        expect(res.error).toBeUndefined();
        expect(res.reply).toBe(`${SIZE} ${expected}\n`);
        const sink = await link.driver.event((e) => e.event === "sink" && e.bytes === SIZE, "sink report");
        expect(sink.sha256).toBe(expected);
        rates.push(
          `${label}: kernel→stack ${(SIZE / MB / ((sink.ms as number) / 1000)).toFixed(1)} MB/s ${note(r0, await retrans())}`,
        );
      }, 120_000);

      test(`stack → kernel, ${SIZE / MB} MB byte-exact (sha256sum)`, async () => {
        const r0 = await retrans();
        const down = await link.run(["sh", "-c", `socat -u TCP4:${link.stack4}:1919 STDOUT | sha256sum`], {
          timeoutMs: 120_000,
        });
        expect(down.stdout.split(" ")[0]).toBe(expected);
        const src = await link.driver.event((e) => e.event === "source" && e.bytes === SIZE, "source report");
        rates.push(
          `${label}: stack→kernel ${(SIZE / MB / ((src.ms as number) / 1000)).toFixed(1)} MB/s ${note(r0, await retrans())}`,
        );
      }, 120_000);

      test(`IPv6: ${SIZE6 / MB} MB each way byte-exact`, async () => {
        const up = await link.run(
          [BUN, KERNEL_TOOL, "send", link.stack6, "9009", String(SIZE6), String(SEED)],
          {
            timeoutMs: 60_000,
          },
        );
        const res = JSON.parse(up.stdout.trim() || "{}") as { reply?: string; error?: string };
        expect(res.reply).toBe(`${SIZE6} ${expected6}\n`);
        const down = await link.run(["sh", "-c", `socat -u TCP6:[${link.stack6}]:1920 STDOUT | sha256sum`], {
          timeoutMs: 60_000,
        });
        expect(down.stdout.split(" ")[0]).toBe(expected6);
      }, 60_000);

      test("8000-byte pings both ways, both families", async () => {
        for (const [flag, stack, kernel] of [
          ["-4", link.stack4, link.kernel4],
          ["-6", link.stack6, link.kernel6],
        ] as const) {
          const k = await link.run(["ping", flag, "-s", "8000", "-c", "2", "-i", "0.2", "-W", "2", stack]);
          expect(k.stdout).toContain("2 received");
          const s = await link.driver.cmd("ping", { to: kernel, count: 2, size: 8000 });
          expect(s).toEqual({ transmitted: 2, received: 2, replyBytes: 8008, errors: [] });
        }
      });
    });
  }
});

describe.skipIf(!canNetns)("TCP over TAP (Ethernet frames, ARP/NDP), kernel and user-space stack", () => {
  afterAll(() => closeAll());
  /** Smaller than the TUN transfers: the TUN matrix measures the path; this checks the framing. */
  const TAP_SIZE = 4 * MB;
  const tapExpected = sha256(pattern(TAP_SIZE, SEED));

  for (const offload of [false, true]) {
    test(`${TAP_SIZE / MB} MB each way over TAP, IPv4 and IPv6 (${offload ? "offload" : "no offload"})`, async () => {
      const link = await openLink({ mode: "tap", ...(offload ? { offload: true } : {}) });
      try {
        await link.driver.cmd("sink", { port: 9009 });
        await link.driver.cmd("source", { port: 1919, bytes: TAP_SIZE, seed: SEED });
        await reachable(link, link.stack6);
        for (const stack of [link.stack4, link.stack6]) {
          const up = await link.run(
            [BUN, KERNEL_TOOL, "send", stack, "9009", String(TAP_SIZE), String(SEED)],
            {
              timeoutMs: 60_000,
            },
          );
          expect(JSON.parse(up.stdout.trim() || "{}")).toMatchObject({
            reply: `${TAP_SIZE} ${tapExpected}\n`,
          });
          const target = stack.includes(":") ? `TCP6:[${stack}]:1919` : `TCP4:${stack}:1919`;
          const down = await link.run(["sh", "-c", `socat -u ${target} STDOUT | sha256sum`], {
            timeoutMs: 60_000,
          });
          expect(down.stdout.split(" ")[0]).toBe(tapExpected);
        }
      } finally {
        await link.close();
      }
    }, 120_000);
  }
});
