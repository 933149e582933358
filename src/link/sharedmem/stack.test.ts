/**
 * Two real Stacks over a sharedmem link in one thread: TCP over IP mode, and
 * ARP plus TCP over Ethernet frames. Delivery across the link is
 * asynchronous (a wake-up per batch), so the loop lets the event loop turn
 * before each tick of the manual clock.
 */
import { describe, expect, test } from "bun:test";
import { newArpProtocol } from "../../network/arp/arp.ts";
import { newIpv4Protocol } from "../../network/ipv4/ipv4.ts";
import { Stack } from "../../stack/stack.ts";
import { ManualClock } from "../../tcpip/clock.ts";
import { ErrConnectStarted } from "../../tcpip/errors.ts";
import { parseMACAddress } from "../../tcpip/link-address.ts";
import { IPV4_PROTOCOL_NUMBER, TCP_PROTOCOL_NUMBER } from "../../tcpip/protocols.ts";
import { SeededRandom } from "../../tcpip/random.ts";
import type { TcpEndpoint } from "../../transport/tcp/endpoint.ts";
import { TcpProtocol } from "../../transport/tcp/protocol.ts";
import { bytes, drain } from "../../transport/tcp/testing/pair.ts";
import { addV4 } from "../../transport/udp/testing.ts";
import { Queue } from "../../waiter/waiter.ts";
import { EthernetEndpoint } from "../ethernet/ethernet.ts";
import type { LinkEndpoint } from "../link-endpoint.ts";
import { createSharedMemPair } from "./sharedmem.ts";

function hosts(links: [LinkEndpoint, LinkEndpoint]) {
  const clock = new ManualClock();
  const mk = (seed: number) =>
    new Stack({
      networkProtocols: [newIpv4Protocol(), newArpProtocol()],
      transportProtocols: [TcpProtocol.factory()],
      clock,
      random: new SeededRandom(seed),
    });
  const a = mk(1);
  const b = mk(2);
  a.createNIC(1, links[0]);
  b.createNIC(1, links[1]);
  addV4(a, 1, "198.18.0.1/24");
  const b4 = addV4(b, 1, "198.18.0.2/24");
  /** Lets the link deliver, then advances the clock by 1 ms; `ms` times. */
  const run = async (ms: number) => {
    for (let t = 0; t < ms; t++) {
      await new Promise((r) => setTimeout(r, 0));
      clock.advance(1);
    }
  };
  return { a, b, b4, run };
}

function open(stack: Stack): TcpEndpoint {
  return stack.newEndpoint(TCP_PROTOCOL_NUMBER, IPV4_PROTOCOL_NUMBER, new Queue()) as unknown as TcpEndpoint;
}

async function echo(h: ReturnType<typeof hosts>, size: number): Promise<void> {
  const l = open(h.b);
  l.bind({ port: 7 });
  l.listen(8);
  const c = open(h.a);
  expect(() => c.connect({ addr: h.b4, port: 7 })).toThrow(ErrConnectStarted);
  for (let i = 0; i < 200 && c.state !== "ESTABLISHED"; i++) await h.run(1);
  expect(c.state).toBe("ESTABLISHED");
  const s = l.accept().endpoint as TcpEndpoint;
  const data = bytes(size);
  let off = 0;
  let got = 0;
  const back: Uint8Array[] = [];
  for (let i = 0; i < 20_000 && got < data.length; i++) {
    if (off < data.length) {
      try {
        off += c.write(data.subarray(off));
      } catch {}
    }
    await h.run(1);
    const d = drain(s);
    if (d.length) s.write(d);
    const e = drain(c);
    got += e.length;
    back.push(e);
  }
  expect(Buffer.compare(Buffer.concat(back), data)).toBe(0);
  c.close();
  s.close();
  await h.run(20);
}

describe("Stacks over sharedmem", () => {
  test("TCP over IP mode: connect and 200 kB echoed", async () => {
    const links = createSharedMemPair({ mtu: 1500 });
    try {
      await echo(hosts(links), 200_000);
    } finally {
      for (const l of links) l.close();
    }
  }, 60_000);

  test("ARP and TCP over Ethernet frames: connect and 50 kB echoed", async () => {
    const macs = [parseMACAddress("02:00:00:00:00:01"), parseMACAddress("02:00:00:00:00:02")] as const;
    const lower = createSharedMemPair({ mtu: 1500, frames: true, linkAddresses: [macs[0], macs[1]] });
    try {
      const eth = [new EthernetEndpoint(lower[0]), new EthernetEndpoint(lower[1])] as const;
      await echo(hosts([eth[0], eth[1]]), 50_000);
      // Every frame crossed whole and was addressed right (no frame was for another MAC or malformed).
      for (const e of eth) {
        expect(e.stats.rxFrames).toBeGreaterThan(10);
        expect(e.stats.rxNotForUs + e.stats.rxMalformed).toBe(0);
      }
    } finally {
      for (const l of lower) l.close();
    }
  }, 60_000);
});
