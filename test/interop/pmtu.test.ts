/**
 * Path MTU discovery through the Linux kernel as a router: the stack's TUN
 * has MTU 1500, the kernel forwards to a second namespace over a veth pair
 * with MTU 1280. Full-size IPv6 segments from the stack toward the far host
 * make the kernel answer with ICMPv6 "packet too big" (RFC 8201: IPv6 routers
 * never fragment); the stack must lower its segment size and resend (RFC 9293
 * §3.7.2), so the bytes arrive exactly, whether the stack connects out or the
 * far host connects in. Over IPv4 the router fragments segments sent without
 * DF, or answers "fragmentation needed" (RFC 1191) to segments with DF.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Netns, uniqueName, uniqueSubnet24 } from "../netns.ts";
import { pattern, sha256 } from "./drivers/pattern.ts";
import { canNetns, closeAll, type Link, openLink, reachable } from "./harness.ts";

const SIZE = 2 << 20;
const SEED = 41;
const expected = sha256(pattern(SIZE, SEED));

describe.skipIf(!canNetns)("path MTU through the kernel as a router (1500 → 1280)", () => {
  const far4 = uniqueSubnet24();
  const far6 = `fd00:${(1 + Math.floor(Math.random() * 0xfffe)).toString(16)}:${(1 + Math.floor(Math.random() * 0xfffe)).toString(16)}::`;
  let link: Link;
  let far: Netns;

  beforeAll(async () => {
    link = await openLink({
      mode: "tun",
      routes: [`${far4.base}.0/24,{kernel4}`, `${far6}/64,{kernel6}`],
    });
    far = await Netns.create("nsf");
    const [a, b] = [uniqueName("vra"), uniqueName("vrb")];
    await link.ns.sh(["ip", "link", "add", a, "type", "veth", "peer", "name", b]);
    await link.ns.sh(["ip", "link", "set", b, "netns", far.name]);
    // Only the router's side of the veth has the small MTU: the far host still offers an MSS for
    // 1500-byte packets, so only the router's ICMP can tell the stack (data flows toward the far host).
    for (const [ns, dev, host, mtu] of [
      [link.ns, a, 1, 1280],
      [far, b, 2, 1500],
    ] as const) {
      await ns.sh(["ip", "link", "set", "dev", dev, "mtu", String(mtu)]);
      await ns.sh(["ip", "addr", "add", `${far4.host(host)}/24`, "dev", dev]);
      await ns.sh(["ip", "-6", "addr", "add", `${far6}${host}/64`, "dev", dev, "nodad"]);
      await ns.sh(["ip", "link", "set", dev, "up"]);
    }
    await link.ns.sh(["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"]);
    await link.ns.sh(["sysctl", "-q", "-w", "net.ipv6.conf.all.forwarding=1"]);
    await far.sh(["ip", "route", "add", "default", "via", far4.host(1)]);
    await far.sh(["ip", "-6", "route", "add", "default", "via", `${far6}1`]);
    await link.driver.cmd("source", { port: 1919, bytes: SIZE, seed: SEED });
    await reachable(link, link.stack6);
  }, 60_000);

  afterAll(async () => {
    await closeAll();
    await far?.delete();
  });

  async function farListener(host: string, port: number): Promise<ReturnType<typeof Bun.spawn>> {
    const listen = host.includes(":")
      ? `TCP6-LISTEN:${port},bind=[${host}],reuseaddr`
      : `TCP4-LISTEN:${port},bind=${host},reuseaddr`;
    const p = Bun.spawn(far.argv(["socat", listen, "SYSTEM:sha256sum"]), {
      stdout: "ignore",
      stderr: "ignore",
    });
    for (let i = 0; i < 100; i++) {
      if ((await far.run(["ss", "-Hltn", `sport = :${port}`])).stdout.includes(`:${port}`)) return p;
      await Bun.sleep(50);
    }
    p.kill();
    throw new Error("far listener did not start");
  }

  for (const family of ["IPv4", "IPv6"] as const) {
    const farHost = () => (family === "IPv4" ? far4.host(2) : `${far6}2`);
    const stack = () => (family === "IPv4" ? link.stack4 : link.stack6);

    test(`the stack connects to the far host and sends ${SIZE >> 20} MB (${family})`, async () => {
      const port = family === "IPv4" ? 5101 : 5102;
      const listener = await farListener(farHost(), port);
      try {
        const r = await link.driver.cmd<{ text?: string }>(
          "connect",
          { host: farHost(), port, bytes: SIZE, seed: SEED },
          60_000,
        );
        expect(r.text).toBe(`${expected}  -\n`);
      } finally {
        listener.kill();
        await listener.exited;
      }
    }, 60_000);

    test(`the far host reads ${SIZE >> 20} MB from the stack (${family})`, async () => {
      const target = family === "IPv4" ? `TCP4:${stack()}:1919` : `TCP6:[${stack()}]:1919`;
      const r = await far.run(["sh", "-c", `socat -u ${target} STDOUT | sha256sum`], { timeoutMs: 60_000 });
      expect(r.stdout.split(" ")[0]).toBe(expected);
    }, 60_000);
  }

  test("the kernel told the stack about the smaller MTU (ICMPv6 packet too big)", async () => {
    const st = await link.driver.cmd<{
      icmp: { v4: { dstUnreachable: { received: number } }; v6: { packetTooBig: { received: number } } };
    }>("stats");
    expect(st.icmp.v6.packetTooBig.received).toBeGreaterThan(0);
  });
});
