/**
 * Test fixtures: stacks with IPv4, ARP, UDP and ping wired through in-memory
 * links (Ethernet frames over `link/channel` with a `Pipe`), on one
 * `ManualClock`. Used by the stack, IPv4, ARP, UDP and ping tests.
 */
import type { ChannelEndpoint } from "../../link/channel/channel.ts";
import { connectChannels, type Pipe } from "../../link/channel/pipe.ts";
import { newEthernetChannel } from "../../link/ethernet/ethernet-channel.ts";
import type { LinkEndpoint } from "../../link/link-endpoint.ts";
import { newArpProtocol } from "../../network/arp/arp.ts";
import { newIpv4Protocol } from "../../network/ipv4/ipv4.ts";
import { ipv6 } from "../../network/ipv6/protocol.ts";
import type { Endpoint } from "../../stack/registration.ts";
import { Stack, type StackOptions } from "../../stack/stack.ts";
import { Address } from "../../tcpip/address.ts";
import { ManualClock } from "../../tcpip/clock.ts";
import { LinkAddress } from "../../tcpip/link-address.ts";
import { IPV4_PROTOCOL_NUMBER, IPV6_PROTOCOL_NUMBER } from "../../tcpip/protocols.ts";
import { SeededRandom } from "../../tcpip/random.ts";
import { Subnet } from "../../tcpip/subnet.ts";
import { Queue } from "../../waiter/waiter.ts";
import { newPingProtocol4, newPingProtocol6 } from "../ping/ping.ts";
import { newUdpProtocol } from "./udp.ts";

export function mac(n: number): LinkAddress {
  return new LinkAddress(Uint8Array.of(0x02, 0, 0, 0, (n >> 8) & 0xff, n & 0xff));
}

export function addr(text: string): Address {
  return Address.parse(text);
}

export function newTestStack(clock: ManualClock, seed: number, extra: Partial<StackOptions> = {}): Stack {
  return new Stack({
    networkProtocols: [newIpv4Protocol(), newArpProtocol()],
    transportProtocols: [newUdpProtocol(), newPingProtocol4()],
    clock,
    random: new SeededRandom(seed),
    ...extra,
  });
}

export interface Wire {
  pipe: Pipe;
  a: { wire: ChannelEndpoint; link: LinkEndpoint };
  b: { wire: ChannelEndpoint; link: LinkEndpoint };
}

let macCounter = 1;

/** Two Ethernet links joined by a pipe that delivers as soon as a frame is written. */
export function ethernetWire(mtu = 1500, opts: { auto?: boolean } = {}): Wire {
  const a = newEthernetChannel({ mtu, linkAddress: mac(macCounter++) });
  const b = newEthernetChannel({ mtu, linkAddress: mac(macCounter++) });
  const pipe = connectChannels(a.wire, b.wire, { auto: opts.auto ?? true });
  return { pipe, a, b };
}

/**
 * Adds `cidr` ("198.18.0.1/24") on `nic` of `stack` and an on-link route for its subnet.
 */
export function addV4(stack: Stack, nic: number, cidr: string): Address {
  const [text, bits] = cidr.split("/");
  const a = addr(text!);
  const prefix = Number(bits);
  stack.addAddress(nic, IPV4_PROTOCOL_NUMBER, a, prefix);
  stack.addRoute({ destination: Subnet.fromPrefix(a, prefix), nic });
  return a;
}

/** Two hosts on one Ethernet segment: A 198.18.0.1/24, B 198.18.0.2/24. */
export function twoHosts(opts: { mtu?: number; seed?: number } = {}) {
  const clock = new ManualClock();
  const a = newTestStack(clock, opts.seed ?? 1);
  const b = newTestStack(clock, (opts.seed ?? 1) + 100);
  const w = ethernetWire(opts.mtu ?? 1500);
  a.createNIC(1, w.a.link);
  b.createNIC(1, w.b.link);
  const aAddr = addV4(a, 1, "198.18.0.1/24");
  const bAddr = addV4(b, 1, "198.18.0.2/24");
  return { clock, a, b, wire: w, aAddr, bAddr };
}

/** An endpoint with its waiter queue and a log of notifications. */
export function endpoint(stack: Stack, transport: number, network = IPV4_PROTOCOL_NUMBER) {
  const wq = new Queue();
  const events: number[] = [];
  wq.register({ callback: (m) => events.push(m) }, 0xff);
  const ep: Endpoint = stack.newEndpoint(transport, network, wq);
  return { ep, wq, events };
}

/** An ICMP echo request body (type 8 code 0, ident filled by the stack). */
export function echoRequest(sequence: number, data: Uint8Array = new Uint8Array(0), type = 8): Uint8Array {
  const b = new Uint8Array(8 + data.length);
  b[0] = type;
  b[6] = sequence >> 8;
  b[7] = sequence & 0xff;
  b.set(data, 8);
  return b;
}

/** A stack with IPv4, ARP and IPv6 (NDP), UDP and both ping protocols. */
export function newDualStack(clock: ManualClock, seed: number): Stack {
  return new Stack({
    networkProtocols: [newIpv4Protocol(), newArpProtocol(), ipv6({ handleRouterAdvertisements: false })],
    transportProtocols: [newUdpProtocol(), newPingProtocol4(), newPingProtocol6()],
    clock,
    random: new SeededRandom(seed),
  });
}

/** Adds `cidr` ("fd00::1/64") and its on-link route; lets DAD finish. */
export function addV6(stack: Stack, clock: ManualClock, nic: number, cidr: string): Address {
  const [text, bits] = cidr.split("/");
  const a = addr(text!);
  const prefix = Number(bits);
  stack.addAddress(nic, IPV6_PROTOCOL_NUMBER, a, prefix);
  stack.addRoute({ destination: Subnet.fromPrefix(a, prefix), nic });
  clock.advance(3_000);
  return a;
}

/** Two dual-stack hosts on one Ethernet: 198.18.0.1/24 + fd00::1/64 and 198.18.0.2/24 + fd00::2/64. */
export function twoDualHosts() {
  const clock = new ManualClock();
  const a = newDualStack(clock, 21);
  const b = newDualStack(clock, 22);
  const w = ethernetWire(1500);
  a.createNIC(1, w.a.link);
  b.createNIC(1, w.b.link);
  const a4 = addV4(a, 1, "198.18.0.1/24");
  const b4 = addV4(b, 1, "198.18.0.2/24");
  const a6 = addV6(a, clock, 1, "fd00::1/64");
  const b6 = addV6(b, clock, 1, "fd00::2/64");
  return { clock, a, b, wire: w, a4, b4, a6, b6 };
}
