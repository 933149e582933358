/** Opens the TUN/TAP device and puts it under a stack as NIC `nicId` (shared by serve and the samples). */
import { closeSync, openSync, writeSync } from "node:fs";
import type { LinkEndpoint } from "../link/link-endpoint.ts";
import { SnifferEndpoint } from "../link/sniffer/sniffer.ts";
import { addHostAddress } from "../link/tun/host-address.ts";
import { openTunEndpoint, type TunEndpoint } from "../link/tun/tun-endpoint.ts";
import type { Stack } from "../stack/stack.ts";
import type { Address } from "../tcpip/address.ts";
import { parseMACAddress } from "../tcpip/link-address.ts";

export interface DeviceConfig {
  device: { kind: "tun" | "tap"; name: string };
  hostAddrs: { address: Address; prefixLen: number }[];
  mac?: string;
  mtu?: number;
  offload: boolean;
  pcap?: string;
}

export interface AttachedDevice {
  tun: TunEndpoint;
  name: string;
  close(): void;
}

export function attachDevice(
  stack: Stack,
  nicId: number,
  c: DeviceConfig,
  onError: (e: unknown) => void,
): AttachedDevice {
  const tun = openTunEndpoint({
    name: c.device.name,
    mode: c.device.kind,
    vnetHdr: c.offload,
    ...(c.mtu !== undefined ? { mtu: c.mtu } : {}),
    ...(c.mac !== undefined ? { linkAddress: parseMACAddress(c.mac) } : {}),
    onError,
  });
  let pcapFd: number | undefined;
  try {
    for (const h of c.hostAddrs) addHostAddress(tun.device.name, h.address, h.prefixLen);
    let link: LinkEndpoint = tun.endpoint;
    if (c.pcap) {
      const fd = openSync(c.pcap, "w", 0o600);
      pcapFd = fd;
      link = new SnifferEndpoint(link, {
        clock: stack.clock,
        pcap: { write: (b: Uint8Array) => void writeSync(fd, b) },
      });
    }
    stack.createNIC(nicId, link, { name: tun.device.name });
  } catch (e) {
    tun.endpoint.close?.();
    if (pcapFd !== undefined) closeSync(pcapFd);
    throw e;
  }
  return {
    tun,
    name: tun.device.name,
    close() {
      tun.endpoint.close?.();
      if (pcapFd !== undefined) closeSync(pcapFd);
      pcapFd = undefined;
    },
  };
}
