/**
 * Two processes, a user-space stack in each, joined by a sharedmem link over
 * one memfd region (src/link/sharedmem): the client sends the seeded pattern
 * over TCP, the server hashes it and answers with the count and SHA-256 after
 * the client's FIN. Also over Ethernet frames (ARP between the two stacks)
 * and at MTU 9000. No kernel interface is involved, so no namespace either;
 * the stacks' addresses are in 198.18.0.0/15.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { close } from "../../src/link/rawfile/index.ts";
import { createMemfdRegion } from "../../src/link/sharedmem/memfd.ts";
import { uniqueSubnet24, until } from "../netns.ts";
import { pattern, sha256 } from "./drivers/pattern.ts";

const MB = 1 << 20;
/** Bytes through the link (override with INTEROP_SHM_MB). */
const SIZE = Number(process.env.INTEROP_SHM_MB ?? 100) * MB;
const SEED = 0x51ab;
const PEER = join(import.meta.dir, "drivers", "sharedmem-peer.ts");

const children: ReturnType<typeof Bun.spawn>[] = [];
const fds: number[] = [];

function spawnPeer(args: string[], fd: number) {
  let text = "";
  const proc = Bun.spawn([process.execPath, PEER, ...args], { stdio: ["ignore", "pipe", "inherit", fd] });
  children.push(proc);
  void (async () => {
    const dec = new TextDecoder();
    for await (const c of proc.stdout as ReadableStream<Uint8Array>) text += dec.decode(c);
  })();
  return { proc, stdout: () => text };
}

describe("two stacks in two processes over a sharedmem link", () => {
  afterAll(() => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
    for (const fd of fds) close(fd);
  });

  async function transfer(size: number, region: { mtu: number; frames?: boolean }) {
    const r = createMemfdRegion({ ...region, bufferCount: 1024 });
    fds.push(r.fd);
    const net = uniqueSubnet24();
    const server = spawnPeer(["server", "1", `${net.host(2)}/24`, "9009"], r.fd);
    await until(() => server.stdout().includes("listening"), "sharedmem server listening", 15_000);
    const client = spawnPeer(
      ["client", "0", `${net.host(1)}/24`, net.host(2), "9009", String(size), String(SEED)],
      r.fd,
    );
    const [sc, cc] = await Promise.all([server.proc.exited, client.proc.exited]);
    const s = JSON.parse(server.stdout().trim().split("\n").pop() ?? "{}");
    const c = JSON.parse(client.stdout().trim().split("\n").pop() ?? "{}");
    const expected = sha256(pattern(size, SEED));
    expect(s.sha256).toBe(expected);
    expect(c.reply).toBe(`${size} ${expected}\n`);
    expect([sc, cc]).toEqual([0, 0]);
    console.log(
      `sharedmem TCP (${region.frames ? "frames" : "IP"}, MTU ${region.mtu}): ${size / MB} MB in ${(c.ms / 1000).toFixed(2)} s = ` +
        `${(size / MB / (c.ms / 1000)).toFixed(1)} MB/s; client link ${JSON.stringify(c.link)}`,
    );
  }

  test(`TCP carries ${SIZE / MB} MB from one process to the other, byte-exact`, async () => {
    await transfer(SIZE, { mtu: 1500 });
  }, 120_000);

  test("Ethernet frames with ARP over the region, and MTU 9000: 8 MB each, byte-exact", async () => {
    await transfer(8 * MB, { mtu: 1500, frames: true });
    await transfer(8 * MB, { mtu: 9000 });
  }, 120_000);
});
