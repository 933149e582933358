/**
 * TUN/TAP against the Linux kernel, in a network namespace created per run.
 * Needs root, /dev/net/tun and iproute2 (CI runs as root). Each scenario runs
 * in a child process under `ip netns exec`, because a TUN belongs to the
 * namespace of the thread that opened it; see testing/netns.ts and netns-helper.ts.
 */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { DEFAULT_TUN_TX_QUEUE_LEN } from "./open-tun.ts";
import { canRun, isRoot, useTestNamespace } from "./testing/netns.ts";

const { helper } = useTestNamespace("tun", join(import.meta.dir, "netns-helper.ts"), {
  helperTimeoutMs: 30_000,
  setupTimeoutMs: 300_000,
});

const bytes = (hex: string): Uint8Array => Uint8Array.from(Buffer.from(hex, "hex"));

function checksumOk(b: Uint8Array, off: number, len: number): boolean {
  let s = 0;
  for (let i = 0; i + 1 < len; i += 2) s += (b[off + i]! << 8) | b[off + i + 1]!;
  if (len & 1) s += b[off + len - 1]! << 8;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s === 0xffff;
}

describe("openTun without root", () => {
  // As root, drop to nobody in a child (setpriv) so the unprivileged path runs in CI too.
  test("needs CAP_NET_ADMIN, said plainly", () => {
    const script = `import { openTun } from ${JSON.stringify(join(import.meta.dir, "open-tun.ts"))};
try { openTun({ name: "nstest0", mode: "tun" }).close(); console.log("opened"); }
catch (e) { console.log(JSON.stringify({ name: e?.constructor?.name, message: String(e?.message) })); }`;
    const argv = [process.execPath, "-e", script];
    const r = Bun.spawnSync(
      isRoot ? ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", ...argv] : argv,
      {
        stdout: "pipe",
        stderr: "pipe",
        env: { ...process.env, HOME: "/tmp", BUN_INSTALL_CACHE_DIR: "/tmp/.bun-nobody-cache" },
      },
    );
    const out = r.stdout.toString().trim();
    expect(out).not.toBe("opened");
    const err = JSON.parse(out.split("\n").pop()!) as { name: string; message: string };
    expect(err.name).toBe("Errno");
    expect(err.message).toMatch(/need root or CAP_NET_ADMIN|modprobe tun/);
  });
});

describe("TUN/TAP in a network namespace", () => {
  test.skipIf(!canRun)(
    "TUN: the kernel's echo requests arrive with correct bytes, and our written replies reach ping",
    async () => {
      const r = await helper("tunPing", "tunp0");
      expect(r.name).toBe("tunp0");
      expect(r.mtu).toBe(1500);
      expect(r.link).toContain("UP");
      // The queue towards us is raised from the kernel's 500 (a burst of FINs overflowed it).
      expect(r.txQueueLen).toBe(DEFAULT_TUN_TX_QUEUE_LEN);
      expect(r.link).toContain(`qlen ${DEFAULT_TUN_TX_QUEUE_LEN}`);
      const echoes = r.seen.filter(
        (p: { protocol: number; hex: string }) => p.protocol === 0x0800 && bytes(p.hex)[9] === 1,
      );
      expect(echoes.length).toBe(3);
      for (const e of echoes) {
        const b = bytes(e.hex);
        expect(b[0]).toBe(0x45);
        expect([...b.subarray(12, 16)]).toEqual([198, 18, 0, 1]);
        expect([...b.subarray(16, 20)]).toEqual([198, 18, 0, 2]);
        expect((b[2]! << 8) | b[3]!).toBe(b.length);
        expect(checksumOk(b, 0, 20)).toBe(true);
        expect(b[20]).toBe(8); // ICMP echo request (RFC 792)
        expect(checksumOk(b, 20, b.length - 20)).toBe(true);
      }
      // (b) the replies written with writePackets were accepted by the kernel.
      expect(r.ping.code).toBe(0);
      expect(r.ping.out).toContain("3 received");
      expect(r.stats.txPackets).toBeGreaterThanOrEqual(3);
      expect(r.stats.txErrors).toBe(0);
      // IPv6: the echo request to fd00:1::2 arrives as protocol 0x86dd.
      const v6 = r.seen.filter(
        (p: { protocol: number; hex: string }) =>
          p.protocol === 0x86dd && bytes(p.hex)[6] === 58 && bytes(p.hex)[40] === 128,
      );
      expect(v6.length).toBe(1);
      expect(bytes(v6[0].hex).subarray(24, 40)).toEqual(
        Uint8Array.of(0xfd, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2),
      );
    },
    40_000,
  );

  test.skipIf(!canRun)(
    "TAP: the kernel's ARP request arrives framed; our ARP and echo replies get ping answered",
    async () => {
      const r = await helper("tapArp", "tapa0");
      expect(r.deviceMac).toMatch(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
      expect(r.ourMac).not.toBe(r.deviceMac);
      const arp = r.seen.find((p: { protocol: number }) => p.protocol === 0x0806);
      expect(arp).toBeDefined();
      expect(arp.linkDst).toBe("ff:ff:ff:ff:ff:ff");
      expect(arp.linkSrc).toBe(r.deviceMac);
      expect(arp.group).toBe(true);
      const a = bytes(arp.hex);
      expect((a[6]! << 8) | a[7]!).toBe(1); // request
      expect([...a.subarray(14, 18)]).toEqual([198, 18, 1, 1]);
      expect([...a.subarray(24, 28)]).toEqual([198, 18, 1, 2]);
      const f = bytes(arp.frameHex);
      expect(f.length).toBe(14 + a.length);
      expect((f[12]! << 8) | f[13]!).toBe(0x0806);
      const echo = r.seen.find(
        (p: { protocol: number; hex: string }) => p.protocol === 0x0800 && bytes(p.hex)[20] === 8,
      );
      expect(echo.linkDst).toBe(r.ourMac);
      expect(echo.group).toBe(false);
      expect(r.neigh).toContain(r.ourMac);
      expect(r.ping.code).toBe(0);
      expect(r.ping.out).toContain("2 received");
    },
    40_000,
  );

  test.skipIf(!canRun)(
    "vnet header: GRO/TSO super-packets above the MTU arrive, and our 20 kB GSO super-segment is accepted",
    async () => {
      const r = await helper("vnetTcp", "tunv0");
      expect(r.bulk.code).toBe(0);
      expect(r.syns.length).toBe(2);
      const syn = bytes(r.syns[0].hex);
      expect(syn[9]).toBe(6);
      expect(syn[33]! & 0x02).toBe(0x02);
      // The kernel leaves the SYN's TCP checksum to the "device" (NEEDS_CSUM): our header parse says so.
      expect(r.syns[0].verified).toBe(true);
      expect(r.bytesIn).toBe(3_000_000);
      expect(r.maxSize).toBeGreaterThan(r.mtu);
      expect(r.gsoPackets).toBeGreaterThan(0);
      expect(r.gsoSample.type).toBe(1);
      expect(r.gsoSample.needsChecksum).toBe(true);
      expect(r.gsoSample.checksumStart).toBe(20);
      expect(r.gsoSample.checksumOffset).toBe(16);
      expect(r.gsoSample.size).toBeGreaterThan(0);
      expect(r.received).toBe(20000);
      expect(r.receivedOk).toBe(true);
      expect(r.stats.txGsoPackets).toBe(1);
      expect(r.stats.rxGsoPackets).toBe(r.gsoPackets);
    },
    40_000,
  );

  test.skipIf(!canRun)(
    "clear errors for a bad name, a flag mismatch and a busy device",
    async () => {
      const r = await helper("errors", "tune0");
      expect(r.badName).toEqual({
        code: "EINVAL",
        message:
          'Cannot attach tun device "bad/name": invalid interface name (contains "/", ":" or whitespace)',
      });
      expect(r.tooLong.code).toBe("EINVAL");
      expect(r.tooLong.message).toContain("longer than 15 bytes");
      expect(r.mismatch.code).toBe("EINVAL");
      expect(r.mismatch.message).toStartWith('Cannot attach tap device "tune0": invalid argument;');
      expect(r.busy.code).toBe("EBUSY");
      expect(r.busy.message).toStartWith('Cannot attach tun device "tune0": device busy;');
      expect(r.multiQueueMismatch.code).toBe("EINVAL");
      expect(r.notTun.code).toBe("EINVAL");
      expect(r.notTun.message).toContain('"lo"');
      expect(r.multiQueueSecond.message).toBe("tune0m");
    },
    40_000,
  );

  test.skipIf(!canRun)(
    "an idle attached TUN costs next to no CPU",
    async () => {
      const r = await helper("idle", "tuni0");
      // A resource bound, not a timing assert: a spinning reader would use ~1000 ms of CPU here.
      expect(r.cpuMs).toBeLessThan(200);
    },
    40_000,
  );
});
