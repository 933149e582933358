/**
 * Run by `kernel.test.ts` inside a network namespace (`ip netns exec NS bun
 * kernel-helper.ts SCENARIO DEVICE`): the user-space stack with IPv6 on a TAP
 * (or TUN) device, the Linux kernel on the other side. Prints one JSON line.
 * Addresses: fd00::/8 and fe80::/10 only (docs/TEAM.md).
 */

import { run, sh } from "../../../link/tun/testing/shell.ts";
import { openTunEndpoint } from "../../../link/tun/tun-endpoint.ts";
import { Stack } from "../../../stack/stack.ts";
import { Address } from "../../../tcpip/address.ts";
import { ErrWouldBlock } from "../../../tcpip/errors.ts";
import {
  ICMPV6_PROTOCOL_NUMBER,
  IPV6_PROTOCOL_NUMBER,
  UDP_PROTOCOL_NUMBER,
} from "../../../tcpip/protocols.ts";
import { Subnet } from "../../../tcpip/subnet.ts";
import { newPingProtocol6 } from "../../../transport/ping/ping.ts";
import { newUdpProtocol } from "../../../transport/udp/udp.ts";
import { Queue } from "../../../waiter/waiter.ts";
import { ipv6 } from "../protocol.ts";

const [scenario = "tap", name = "ns6tap0"] = process.argv.slice(2);

/** Reads from a non-blocking endpoint, polling until data or `ms` pass. */
async function readWithin(ep: { read(): { data: Uint8Array } }, ms: number): Promise<Uint8Array | undefined> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    try {
      return ep.read().data;
    } catch (e) {
      if (!(e instanceof ErrWouldBlock)) throw e;
    }
    await Bun.sleep(20);
  }
  return undefined;
}

async function main(): Promise<void> {
  const tap = scenario === "tap";
  const { device, endpoint } = openTunEndpoint({ name, mode: tap ? "tap" : "tun" });
  sh("ip", "link", "set", "dev", device.name, "up");
  sh("ip", "-6", "addr", "add", "fd00:6::1/64", "dev", device.name, "nodad");
  const stack = new Stack({
    networkProtocols: [ipv6()],
    transportProtocols: [newUdpProtocol(), newPingProtocol6()],
  });
  stack.createNIC(1, endpoint);
  const ours = Address.parse("fd00:6::2");
  stack.addAddress(1, IPV6_PROTOCOL_NUMBER, ours, 64, { tentative: true });
  stack.addRoute({ destination: Subnet.parse("fd00:6::/64"), nic: 1 });
  // Our DAD (up to 1 s delay + 1 s RetransTimer) and the kernel's own setup.
  await Bun.sleep(2500);
  const assigned = stack.nic(1)!.hasAddress(ours);
  const linkLocal = stack
    .nic(1)!
    .addresses(IPV6_PROTOCOL_NUMBER)
    .find((a) => a.address.isLinkLocalUnicast)
    ?.address.toString();

  const kernelPing = await run(["ping", "-6", "-n", "-c", "2", "-i", "0.2", "-W", "2", "fd00:6::2"]);
  // 3000 bytes of ICMP data: the kernel fragments, we reassemble, we fragment the reply, it reassembles.
  const bigPing = await run([
    "ping",
    "-6",
    "-n",
    "-c",
    "2",
    "-i",
    "0.2",
    "-W",
    "2",
    "-s",
    "3000",
    "fd00:6::2",
  ]);
  const llPing = linkLocal
    ? await run(["ping", "-6", "-n", "-c", "1", "-W", "2", `${linkLocal}%${device.name}`])
    : { code: -1, out: "no link-local address" };

  // Our ping6 socket to the kernel.
  const ping = stack.newEndpoint(ICMPV6_PROTOCOL_NUMBER, IPV6_PROTOCOL_NUMBER, new Queue());
  const req = new Uint8Array(64);
  req[0] = 128;
  req[7] = 1;
  ping.write(req, { to: { addr: Address.parse("fd00:6::1"), port: 0 } });
  const reply = await readWithin(ping, 3000);

  // A large UDP datagram from us to a kernel socket (our fragments, its reassembly).
  const udpOut = Bun.spawn(["timeout", "5", "socat", "-u", "UDP6-RECV:9999,bind=[fd00:6::1]", "STDOUT"], {
    stdout: "pipe",
    stderr: "pipe",
  });
  // Wait until socat is bound (a fixed sleep lost the datagram on a loaded machine).
  for (let i = 0; i < 100 && !sh("ss", "-Huln", "sport = :9999").includes("9999"); i++) await Bun.sleep(50);
  const udp = stack.newEndpoint(UDP_PROTOCOL_NUMBER, IPV6_PROTOCOL_NUMBER, new Queue());
  const payload = new Uint8Array(4000).fill(0x61);
  udp.write(payload, { to: { addr: Address.parse("fd00:6::1"), port: 9999 } });
  const udpText = await new Response(udpOut.stdout).text();
  await udpOut.exited;

  const out = {
    assigned,
    linkLocal,
    kernelPing,
    bigPing,
    llPing,
    reply: reply ? Array.from(reply.subarray(0, 8)) : null,
    udpReceived: udpText.length,
    neigh: sh("ip", "-6", "neigh", "show", "dev", device.name),
    link: endpoint.stats,
    nic: stack.nicStats(1),
    kernelLink: sh("ip", "-s", "link", "show", "dev", device.name),
    stats: {
      v6: stack.stats.icmp.v6,
      fragments: stack.stats.fragments,
      ip: stack.stats.ip,
    },
  };
  console.log(JSON.stringify(out));
  stack.close();
  endpoint.close();
  await endpoint.wait?.();
}

await main();
