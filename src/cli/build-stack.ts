/** Builds the full stack the appliance runs: IPv4 + ARP, IPv6 (NDP), TCP, UDP, ICMP echo sockets. */
import { newArpProtocol } from "../network/arp/arp.ts";
import { newIpv4Protocol } from "../network/ipv4/ipv4.ts";
import { ipv6 } from "../network/ipv6/protocol.ts";
import { Stack } from "../stack/stack.ts";
import type { Clock } from "../tcpip/clock.ts";
import type { Random } from "../tcpip/random.ts";
import { newPingProtocol4, newPingProtocol6 } from "../transport/ping/ping.ts";
import { TcpProtocol } from "../transport/tcp/protocol.ts";
import { newUdpProtocol } from "../transport/udp/udp.ts";

export function buildStack(opts: { clock?: Clock; random?: Random } = {}): Stack {
  return new Stack({
    networkProtocols: [newIpv4Protocol(), newArpProtocol(), ipv6()],
    transportProtocols: [TcpProtocol.factory(), newUdpProtocol(), newPingProtocol4(), newPingProtocol6()],
    ...(opts.clock ? { clock: opts.clock } : {}),
    ...(opts.random ? { random: opts.random } : {}),
  });
}
