/**
 * TCP against the kernel over a bad path: the driver drops packets both ways
 * and duplicates and reorders them on the way in (drivers/impaired-link.ts,
 * seeded). The kernel's TCP recovers what the stack lost (the stack's
 * duplicate ACKs and SACK blocks, RFC 2018, must be right for that), and the
 * stack recovers what the kernel never saw (RFC 6675 / RFC 8985); the bytes
 * still arrive exactly, checked by SHA-256. And IP reassembly (RFC 791 §3.2,
 * RFC 8200 §4.5) with fragments that arrive out of order and twice.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { pattern, sha256 } from "./drivers/pattern.ts";
import { BUN, canNetns, closeAll, KERNEL_TOOL, openLink, reachable } from "./harness.ts";

const MB = 1 << 20;
/** Per direction: 2 MB over IPv4, 1 MB over IPv6 (recovery from RTOs is slow; the folder has a time budget). */
const SIZES = { v4: 2 * MB, v6: 1 * MB };
const SEED = 77;
const expected = { v4: sha256(pattern(SIZES.v4, SEED)), v6: sha256(pattern(SIZES.v6, SEED)) };

describe.skipIf(!canNetns)("TCP over an impaired path (loss, duplication, reordering)", () => {
  afterAll(() => closeAll());

  for (const offload of [false, true]) {
    test(`${SIZES.v4 / MB} MB (IPv4) and ${SIZES.v6 / MB} MB (IPv6) each way, byte-exact (${offload ? "offload" : "no offload"})`, async () => {
      const link = await openLink({
        mode: "tun",
        ...(offload ? { offload: true } : {}),
        // Seed 7 drops the 30th data packet in and the 25th out (offload moves
        // only ~48 data packets each way; see impaired-link.ts).
        impair: { lossIn: 0.01, lossOut: 0.01, dupIn: 0.01, reorderIn: 0.02, seed: offload ? 7 : 1 },
      });
      try {
        await link.driver.cmd("sink", { port: 9009 });
        await link.driver.cmd("source", { port: 1919, bytes: SIZES.v4, seed: SEED });
        await link.driver.cmd("source", { port: 1920, bytes: SIZES.v6, seed: SEED });
        await reachable(link, link.stack4);
        await reachable(link, link.stack6);
        for (const [stack, fam, port] of [
          [link.stack4, "v4", 1919],
          [link.stack6, "v6", 1920],
        ] as const) {
          const size = SIZES[fam];
          const up = await link.run([BUN, KERNEL_TOOL, "send", stack, "9009", String(size), String(SEED)], {
            timeoutMs: 90_000,
          });
          expect(JSON.parse(up.stdout.trim() || "{}")).toMatchObject({ reply: `${size} ${expected[fam]}\n` });
          const target = stack.includes(":") ? `TCP6:[${stack}]:${port}` : `TCP4:${stack}:${port}`;
          const down = await link.run(["sh", "-c", `socat -u ${target} STDOUT | sha256sum`], {
            timeoutMs: 90_000,
          });
          expect(down.stdout.split(" ")[0]).toBe(expected[fam]);
        }
        const st = await link.driver.cmd<{ tcp: Record<string, number>; impaired: Record<string, number> }>(
          "stats",
        );
        // The path really was bad, and the stack really recovered.
        expect(st.impaired.droppedIn).toBeGreaterThan(0);
        expect(st.impaired.droppedOut).toBeGreaterThan(0);
        expect(st.tcp.retransmits).toBeGreaterThan(0);
        console.log(
          `impaired (${offload ? "offload" : "no offload"}): ${JSON.stringify(st.impaired)} tcp ${JSON.stringify(st.tcp)}`,
        );
      } finally {
        await link.close();
      }
    }, 180_000);
  }
});

describe.skipIf(!canNetns)("IP reassembly with fragments reordered and duplicated on the way in", () => {
  afterAll(() => closeAll());

  test("8000-byte pings from the kernel come back, both families (RFC 815 holes; duplicates are dropped)", async () => {
    const link = await openLink({ mode: "tun", impair: { dupIn: 0.3, reorderIn: 0.3, seed: 5 } });
    try {
      await reachable(link, link.stack4);
      await reachable(link, link.stack6);
      for (const [flag, stack] of [
        ["-4", link.stack4],
        ["-6", link.stack6],
      ] as const) {
        const r = await link.run(["ping", flag, "-s", "8000", "-c", "10", "-i", "0.1", "-W", "2", stack]);
        expect(r.stdout).toContain("10 received");
      }
      const st = await link.driver.cmd<{
        fragments: { reassembled: number };
        impaired: { duplicatedIn: number; reorderedIn: number };
      }>("stats");
      expect(st.fragments.reassembled).toBeGreaterThanOrEqual(20);
      expect(st.impaired.duplicatedIn).toBeGreaterThan(0);
      expect(st.impaired.reorderedIn).toBeGreaterThan(0);
    } finally {
      await link.close();
    }
  }, 60_000);
});
