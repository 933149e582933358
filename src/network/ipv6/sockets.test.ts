/** IPv6 under the real transports: UDP and ping6 sockets between two dual-stack hosts. */
import { describe, expect, test } from "bun:test";
import { connectChannels } from "../../link/channel/pipe.ts";
import { newEthernetChannel } from "../../link/ethernet/ethernet-channel.ts";
import { Stack } from "../../stack/stack.ts";
import { ManualClock } from "../../tcpip/clock.ts";
import { ErrNoLinkAddress } from "../../tcpip/errors.ts";
import { parseMACAddress } from "../../tcpip/link-address.ts";
import { ICMPV6_PROTOCOL_NUMBER, IPV6_PROTOCOL_NUMBER, UDP_PROTOCOL_NUMBER } from "../../tcpip/protocols.ts";
import { SeededRandom } from "../../tcpip/random.ts";
import { Subnet } from "../../tcpip/subnet.ts";
import { newPingProtocol6 } from "../../transport/ping/ping.ts";
import { newUdpProtocol } from "../../transport/udp/udp.ts";
import { Queue } from "../../waiter/waiter.ts";
import { newArpProtocol } from "../arp/arp.ts";
import { newIpv4Protocol } from "../ipv4/ipv4.ts";
import { a6 } from "./_harness.ts";
import { ipv6 } from "./protocol.ts";

function dualStackPair(mtu = 1500) {
  const clock = new ManualClock();
  const mk = (mac: string, seed: number) => {
    const s = new Stack({
      networkProtocols: [newIpv4Protocol(), newArpProtocol(), ipv6()],
      transportProtocols: [newUdpProtocol(), newPingProtocol6()],
      clock,
      random: new SeededRandom(seed),
    });
    const ch = newEthernetChannel({ mtu, linkAddress: parseMACAddress(mac) });
    s.createNIC(1, ch.link);
    return { s, wire: ch.wire };
  };
  const a = mk("02:00:00:00:00:0a", 1);
  const b = mk("02:00:00:00:00:0b", 2);
  connectChannels(a.wire, b.wire, { auto: true });
  for (const [h, addr] of [
    [a.s, "fd00::a"],
    [b.s, "fd00::b"],
  ] as const) {
    h.addAddress(1, IPV6_PROTOCOL_NUMBER, a6(addr), 64);
    h.addRoute({ destination: Subnet.parse("fd00::/64"), nic: 1 });
  }
  for (let t = 0; t < 3000; t += 10) clock.advance(10);
  const ep = (s: Stack, proto: number) => s.newEndpoint(proto, IPV6_PROTOCOL_NUMBER, new Queue());
  return { clock, a: a.s, b: b.s, ep };
}

describe("sockets over IPv6", () => {
  test("UDP datagrams both ways, one of them fragmented at MTU 1280", () => {
    const { a, b, ep } = dualStackPair(1280);
    const server = ep(b, UDP_PROTOCOL_NUMBER);
    server.bind({ port: 7 });
    const client = ep(a, UDP_PROTOCOL_NUMBER);
    const big = Uint8Array.from({ length: 3000 }, (_, i) => i & 0xff);
    client.write(big, { to: { addr: a6("fd00::b"), port: 7 } });
    const got = server.read();
    expect(got.data).toEqual(big);
    expect(got.from!.addr!.toString()).toBe("fd00::a");
    server.write(Uint8Array.of(1, 2), { to: got.from! });
    expect(client.read().data).toEqual(Uint8Array.of(1, 2));
    expect(b.stats.fragments.reassembled).toBe(1);
  });

  test("a large datagram to our own address is delivered whole, without fragments", () => {
    const { a, ep } = dualStackPair();
    const server = ep(a, UDP_PROTOCOL_NUMBER);
    server.bind({ port: 7 });
    const client = ep(a, UDP_PROTOCOL_NUMBER);
    const big = new Uint8Array(20_000).fill(3);
    client.write(big, { to: { addr: a6("fd00::a"), port: 7 } });
    expect(server.read().data).toEqual(big);
    expect(a.stats.fragments.fragmentsSent).toBe(0);
  });

  test("ping6 socket gets its echo reply", () => {
    const { a, ep } = dualStackPair();
    const p = ep(a, ICMPV6_PROTOCOL_NUMBER);
    const req = new Uint8Array(16);
    req[0] = 128;
    req[7] = 1;
    p.write(req, { to: { addr: a6("fd00::b"), port: 0 } });
    const reply = p.read();
    expect(reply.data[0]).toBe(129);
    expect(reply.data[7]).toBe(1);
  });

  test("a UDP socket sees ErrNoLinkAddress when the neighbour never answers", () => {
    const { a, ep, clock } = dualStackPair();
    const c = ep(a, UDP_PROTOCOL_NUMBER);
    c.connect({ addr: a6("fd00::99"), port: 9 });
    c.write(Uint8Array.of(1));
    for (let t = 0; t < 5000; t += 10) clock.advance(10);
    expect(() => c.write(Uint8Array.of(2))).toThrow(ErrNoLinkAddress);
  });
});
