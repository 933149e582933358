/** How the appliance gets a link for a NIC: a TUN/TAP device in production, an in-memory link in tests. */
import { closeSync, openSync, writeSync } from "node:fs";
import type { NicSpec } from "../http/controller.ts";
import { hotPoller } from "../link/fdbased/hot-poller.ts";
import { ThreadedFdEndpoint } from "../link/fdbased/threaded-endpoint.ts";
import type { LinkEndpoint } from "../link/link-endpoint.ts";
import { SnifferEndpoint } from "../link/sniffer/sniffer.ts";
import { addHostAddress } from "../link/tun/host-address.ts";
import { openTun } from "../link/tun/open-tun.ts";
import { openTunEndpoint } from "../link/tun/tun-endpoint.ts";
import type { Clock } from "../tcpip/clock.ts";
import { parseMACAddress } from "../tcpip/link-address.ts";
import { parseAddressWithPrefix } from "../tcpip/subnet.ts";

export interface OpenedLink {
  link: LinkEndpoint;
  /** The device name the kernel gave. */
  name: string;
  mtu: number;
  /** The stack's MAC on a TAP device, else null. */
  mac: string | null;
  close(): void;
}

export interface LinkOpener {
  open(spec: NicSpec & { pcap?: string }, clock: Clock, onError: (e: unknown) => void): OpenedLink;
}

export interface TunOpenerOptions {
  /**
   * `serve --io-threads`: TUN NICs (with or without offload) get a
   * `ThreadedFdEndpoint`, whose read()/write() calls run on worker threads;
   * TAP NICs keep the `FdEndpoint`.
   */
  ioThreads?: boolean;
  /** `serve --io-uring`: `FdEndpoint` NICs read and write through io_uring (fd-endpoint.ts `ioUring`). */
  ioUring?: boolean;
}

/**
 * Opens (or attaches to) TUN/TAP devices; gives the kernel side its host addresses; optional pcap of every packet.
 * While a link is open the main thread's hot poll (an `FdEndpoint` after traffic) wakes for the timers of the
 * stack's `clock`: a `RealClock` (serve's) is watched anyway, any other clock is registered here.
 */
export function tunOpenerWith(o: TunOpenerOptions): LinkOpener {
  return {
    open(spec, clock, onError) {
      const tun =
        o.ioThreads && spec.kind === "tun"
          ? openThreaded(spec, onError)
          : openFd(spec, onError, o.ioUring === true);
      const unwatchClock = hotPoller.addClock(clock);
      let pcapFd: number | undefined;
      try {
        for (const h of spec.hostAddresses ?? []) {
          const a = parseAddressWithPrefix(h);
          addHostAddress(tun.name, a.address, a.prefixLen);
        }
        let link: LinkEndpoint = tun.endpoint;
        if (spec.pcap) {
          const fd = openSync(spec.pcap, "w", 0o600);
          pcapFd = fd;
          link = new SnifferEndpoint(link, {
            clock,
            pcap: { write: (b: Uint8Array) => void writeSync(fd, b) },
          });
        }
        return {
          link,
          name: tun.name,
          mtu: tun.mtu,
          mac: spec.kind === "tap" ? tun.endpoint.linkAddress.toString() : null,
          close() {
            tun.endpoint.close?.();
            unwatchClock();
            if (pcapFd !== undefined) closeSync(pcapFd);
            pcapFd = undefined;
          },
        };
      } catch (e) {
        tun.endpoint.close?.();
        unwatchClock();
        if (pcapFd !== undefined) closeSync(pcapFd);
        throw e;
      }
    },
  };
}

interface OpenedDevice {
  endpoint: LinkEndpoint;
  name: string;
  mtu: number;
}

function openFd(spec: NicSpec, onError: (e: unknown) => void, ioUring = false): OpenedDevice {
  const tun = openTunEndpoint({
    ...(ioUring && { ioUring }),
    name: spec.name,
    mode: spec.kind,
    vnetHdr: spec.offload ?? false,
    ...(spec.mtu !== undefined ? { mtu: spec.mtu } : {}),
    ...(spec.mac !== undefined ? { linkAddress: parseMACAddress(spec.mac) } : {}),
    onError,
  });
  return { endpoint: tun.endpoint, name: tun.device.name, mtu: tun.device.mtu };
}

function openThreaded(spec: NicSpec, onError: (e: unknown) => void): OpenedDevice {
  const device = openTun({
    name: spec.name,
    mode: "tun",
    vnetHdr: spec.offload ?? false,
    ...(spec.mtu !== undefined ? { mtu: spec.mtu } : {}),
  });
  try {
    const endpoint = new ThreadedFdEndpoint({
      fd: device.fd,
      mtu: device.mtu,
      vnetHdr: device.vnetHdr,
      onClosed: () => device.close(),
      onError,
    });
    return { endpoint, name: device.name, mtu: device.mtu };
  } catch (e) {
    device.close();
    throw e;
  }
}

/** The default opener: every NIC on an `FdEndpoint`. */
export const tunOpener: LinkOpener = tunOpenerWith({});
