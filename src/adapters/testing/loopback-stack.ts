/**
 * A test fixture: one stack on a loopback NIC with 127.0.0.1/8 and ::1, TCP
 * and UDP, on the real clock (adapter tests use real timers and real event
 * loop turns, as code written for `node:net` expects).
 */
import { LoopbackEndpoint } from "../../link/loopback/loopback.ts";
import { newArpProtocol } from "../../network/arp/arp.ts";
import { newIpv4Protocol } from "../../network/ipv4/ipv4.ts";
import { ipv6 } from "../../network/ipv6/protocol.ts";
import { Stack } from "../../stack/stack.ts";
import { Address } from "../../tcpip/address.ts";
import type { Clock } from "../../tcpip/clock.ts";
import { IPV4_PROTOCOL_NUMBER, IPV6_PROTOCOL_NUMBER } from "../../tcpip/protocols.ts";
import { Subnet } from "../../tcpip/subnet.ts";
import { TcpProtocol } from "../../transport/tcp/protocol.ts";
import { newUdpProtocol } from "../../transport/udp/udp.ts";

export function loopbackStack(opts: { clock?: Clock; mtu?: number } = {}): Stack {
  const stack = new Stack({
    networkProtocols: [newIpv4Protocol(), newArpProtocol(), ipv6()],
    transportProtocols: [TcpProtocol.factory(), newUdpProtocol()],
    ...(opts.clock ? { clock: opts.clock } : {}),
  });
  stack.createNIC(1, new LoopbackEndpoint(opts.mtu !== undefined ? { mtu: opts.mtu } : {}), { name: "lo" });
  stack.addAddress(1, IPV4_PROTOCOL_NUMBER, Address.parse("127.0.0.1"), 8);
  stack.addAddress(1, IPV6_PROTOCOL_NUMBER, Address.parse("::1"), 128);
  stack.addRoute({ destination: Subnet.parse("127.0.0.0/8"), nic: 1 });
  stack.addRoute({ destination: Subnet.parse("::1/128"), nic: 1 });
  return stack;
}
