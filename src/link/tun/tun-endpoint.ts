import { LinkAddress } from "../../tcpip/link-address.ts";
import { FdEndpoint, type FdEndpointOptions } from "../fdbased/fd-endpoint.ts";
import { type OpenTunOptions, openTun, type TunDevice } from "./open-tun.ts";

export interface TunEndpointOptions
  extends OpenTunOptions,
    Pick<
      FdEndpointOptions,
      | "batchSize"
      | "spinMs"
      | "hotMs"
      | "readiness"
      | "onError"
      | "promiscuous"
      | "txChecksumOffload"
      | "ioUring"
    > {
  /**
   * The stack's own MAC on a TAP device (default: the device's MAC with its
   * last octet changed, so it differs from the kernel side's MAC).
   */
  linkAddress?: LinkAddress;
  /** TAP only: hand whole frames up (`carriesFrames`) for an `EthernetEndpoint` instead of framing here. */
  frames?: boolean;
}

/** An open TUN/TAP device and the link endpoint over it; `endpoint.close()` also closes the device. */
export interface TunEndpoint {
  device: TunDevice;
  endpoint: FdEndpoint;
}

/** Opens (or attaches to) a TUN/TAP device and wraps it in an `FdEndpoint`. */
export function openTunEndpoint(opts: TunEndpointOptions): TunEndpoint {
  const device = openTun(opts);
  try {
    const tap = device.mode === "tap";
    const endpoint = new FdEndpoint({
      fd: device.fd,
      mtu: device.mtu,
      framing: tap ? (opts.frames ? "frames" : "ethernet") : "ip",
      linkAddress: opts.linkAddress ?? (tap ? peerMac(device.mac) : LinkAddress.EMPTY),
      vnetHdr: device.vnetHdr,
      onClosed: () => device.close(),
      ...(opts.batchSize !== undefined && { batchSize: opts.batchSize }),
      ...(opts.spinMs !== undefined && { spinMs: opts.spinMs }),
      ...(opts.hotMs !== undefined && { hotMs: opts.hotMs }),
      ...(opts.readiness !== undefined && { readiness: opts.readiness }),
      ...(opts.onError !== undefined && { onError: opts.onError }),
      ...(opts.promiscuous !== undefined && { promiscuous: opts.promiscuous }),
      ...(opts.txChecksumOffload !== undefined && { txChecksumOffload: opts.txChecksumOffload }),
      ...(opts.ioUring !== undefined && { ioUring: opts.ioUring }),
    });
    return { device, endpoint };
  } catch (e) {
    device.close();
    throw e;
  }
}

/** A locally administered unicast MAC next to `mac` (last octet XOR 1). */
export function peerMac(mac: LinkAddress): LinkAddress {
  const b = mac.bytes.slice();
  b[0] = (b[0]! | 0x02) & 0xfe;
  b[5] = b[5]! ^ 0x01;
  return new LinkAddress(b);
}
