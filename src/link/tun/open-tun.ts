import { LinkAddress } from "../../tcpip/link-address.ts";
import {
  AF_INET,
  close,
  ERRNO,
  Errno,
  errnoName,
  errnoText,
  ioctlBuffer,
  ioctlValue,
  O_CLOEXEC,
  O_RDWR,
  open,
  SOCK_CLOEXEC,
  SOCK_DGRAM,
  setNonblocking,
  socket,
} from "../rawfile/index.ts";
import {
  IFF_MULTI_QUEUE,
  IFF_NO_PI,
  IFF_TAP,
  IFF_TUN,
  IFF_UP,
  IFF_VNET_HDR,
  IFREQ_DATA,
  IFREQ_HWADDR,
  ifreqName,
  ifreqView,
  invalidInterfaceName,
  newIfreq,
  SIOCGIFFLAGS,
  SIOCGIFHWADDR,
  SIOCGIFMTU,
  SIOCGIFTXQLEN,
  SIOCSIFFLAGS,
  SIOCSIFMTU,
  SIOCSIFTXQLEN,
  TUN_F_CSUM,
  TUN_F_TSO4,
  TUN_F_TSO6,
  TUNSETIFF,
  TUNSETOFFLOAD,
} from "./ifreq.ts";

export const TUN_DEVICE_PATH = "/dev/net/tun";

/** Offloads asked for by default with `vnetHdr`: checksum offload and TCP segmentation both ways. */
export const DEFAULT_TUN_OFFLOADS = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6;

export interface OpenTunOptions {
  /** Interface name (1..15 bytes). Omitted: the kernel picks `tunN`/`tapN`. */
  name?: string;
  /** `tun`: IP packets; `tap`: Ethernet frames. */
  mode: "tun" | "tap";
  /** Prefix every packet with a 10-byte virtio-net header (`IFF_VNET_HDR`) and enable offloads. */
  vnetHdr?: boolean;
  /** `IFF_MULTI_QUEUE`: open the same name again to get another queue. */
  multiQueue?: boolean;
  /** `TUN_F_*` bits for `TUNSETOFFLOAD` (only with `vnetHdr`); default `DEFAULT_TUN_OFFLOADS`. */
  offloads?: number;
  /** Sets the interface MTU (`SIOCSIFMTU`) before reading it back. */
  mtu?: number;
  /** Brings the interface up (`IFF_UP`); default true. */
  up?: boolean;
  /**
   * Packets the kernel may queue towards us (`SIOCSIFTXQLEN`; the tun driver
   * sizes its ring from it). Default `DEFAULT_TUN_TX_QUEUE_LEN`. The kernel's
   * own default of 500 overflows when thousands of connections close at
   * once or while a garbage-collection pause holds our reads; the overflow is
   * a drop the kernel's TCP then repairs only by retransmission timeout.
   * Values below the device's current length leave it as it is.
   */
  txQueueLen?: number;
}

/** Room for a burst of tens of milliseconds at a few hundred thousand packets per second. */
export const DEFAULT_TUN_TX_QUEUE_LEN = 4096;

/** An open TUN/TAP queue: a nonblocking fd that reads and writes one packet per call. */
export interface TunDevice {
  readonly fd: number;
  /** The interface name the kernel gave (the requested one, or `tunN`). */
  readonly name: string;
  readonly mode: "tun" | "tap";
  readonly vnetHdr: boolean;
  /** `TUN_F_*` bits in effect (0 without `vnetHdr`). */
  readonly offloads: number;
  /** Interface MTU (`SIOCGIFMTU`). */
  readonly mtu: number;
  /** Transmit queue length towards us (`SIOCGIFTXQLEN`). */
  readonly txQueueLen: number;
  /** The kernel side's MAC of a TAP device (`SIOCGIFHWADDR`); empty for TUN. */
  readonly mac: LinkAddress;
  /** Closes the fd. A non-persistent device disappears with its last fd. */
  close(): void;
}

/**
 * Creates the TUN/TAP device `name`, or attaches to it when it exists, with
 * `IFF_NO_PI` always (no 4-byte packet-information prefix). The fd is
 * nonblocking. MTU, MAC and IFF_UP are handled with ioctls on an AF_INET
 * datagram socket, in the network namespace of the calling thread (which is
 * also the namespace the device lives in: bun-io research pitfall 13).
 *
 * Errors are `Errno` with a message naming the device and what to do.
 */
export function openTun(options: OpenTunOptions): TunDevice {
  const requested = options.name ?? "";
  const kind = options.mode === "tap" ? "tap" : "tun";
  if (requested !== "") {
    const why = invalidInterfaceName(requested);
    if (why)
      throw new Errno(
        ERRNO.EINVAL,
        "TUNSETIFF",
        `Cannot attach ${kind} device "${requested}": invalid interface name (${why})`,
      );
  }

  const fd = openControlDevice();
  try {
    const ifr = newIfreq(requested);
    const dv = ifreqView(ifr);
    let flags = (options.mode === "tap" ? IFF_TAP : IFF_TUN) | IFF_NO_PI;
    if (options.vnetHdr) flags |= IFF_VNET_HDR;
    if (options.multiQueue) flags |= IFF_MULTI_QUEUE;
    dv.setUint16(IFREQ_DATA, flags, true);
    try {
      ioctlBuffer(fd, TUNSETIFF, ifr, "TUNSETIFF");
    } catch (e) {
      throw attachError(e, kind, requested, options);
    }
    const name = ifreqName(ifr);

    let offloads = 0;
    if (options.vnetHdr) {
      offloads = options.offloads ?? DEFAULT_TUN_OFFLOADS;
      try {
        ioctlValue(fd, TUNSETOFFLOAD, offloads, "TUNSETOFFLOAD");
      } catch (e) {
        if (e instanceof Errno)
          throw new Errno(
            e.errno,
            "TUNSETOFFLOAD",
            `Cannot set offloads 0x${offloads.toString(16)} on ${kind} device "${name}": ${errnoText(e.errno)} (the kernel may not support some of them)`,
          );
        throw e;
      }
    }
    setNonblocking(fd);

    const { mtu, mac, txQueueLen } = configureInterface(name, kind, options);
    return new OpenTunDevice(
      fd,
      name,
      options.mode,
      options.vnetHdr === true,
      offloads,
      mtu,
      mac,
      txQueueLen,
    );
  } catch (e) {
    close(fd);
    throw e;
  }
}

function openControlDevice(): number {
  try {
    return open(TUN_DEVICE_PATH, O_RDWR | O_CLOEXEC);
  } catch (e) {
    if (!(e instanceof Errno)) throw e;
    switch (e.errno) {
      case ERRNO.ENOENT:
      case ERRNO.ENODEV:
      case ERRNO.ENXIO:
        throw new Errno(
          e.errno,
          "open",
          `Cannot open ${TUN_DEVICE_PATH}: no such device; load the tun module (modprobe tun)`,
        );
      case ERRNO.EACCES:
      case ERRNO.EPERM:
        throw new Errno(
          e.errno,
          "open",
          `Cannot open ${TUN_DEVICE_PATH}: permission denied; need root or CAP_NET_ADMIN`,
        );
      default:
        throw e;
    }
  }
}

function attachError(e: unknown, kind: string, name: string, o: OpenTunOptions): unknown {
  if (!(e instanceof Errno)) return e;
  const what = `Cannot attach ${kind} device "${name || `${kind}%d`}"`;
  const wanted = `${kind}${o.vnetHdr ? ", vnet_hdr" : ""}${o.multiQueue ? ", multi_queue" : ""}`;
  switch (e.errno) {
    case ERRNO.EPERM:
    case ERRNO.EACCES:
      return new Errno(e.errno, "TUNSETIFF", `${what}: permission denied; need root or CAP_NET_ADMIN`);
    case ERRNO.EBUSY:
      return new Errno(
        e.errno,
        "TUNSETIFF",
        `${what}: device busy; it is already attached by another process, or it is single-queue (asked: ${wanted})`,
      );
    case ERRNO.EINVAL:
      return new Errno(
        e.errno,
        "TUNSETIFF",
        `${what}: invalid argument; a device of that name exists with different flags or is not a tun/tap device (asked: ${wanted})`,
      );
    default:
      return new Errno(e.errno, "TUNSETIFF", `${what}: ${errnoText(e.errno)} (${errnoName(e.errno)})`);
  }
}

/** Sets/reads MTU, reads the MAC and brings the interface up, through an AF_INET control socket. */
function configureInterface(
  name: string,
  kind: string,
  o: OpenTunOptions,
): { mtu: number; mac: LinkAddress; txQueueLen: number } {
  const sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC);
  const fail = (e: unknown, what: string): unknown =>
    e instanceof Errno
      ? new Errno(e.errno, e.syscall, `Cannot ${what} of ${kind} device "${name}": ${errnoText(e.errno)}`)
      : e;
  try {
    const ifr = newIfreq(name);
    const dv = ifreqView(ifr);
    if (o.mtu !== undefined) {
      dv.setInt32(IFREQ_DATA, o.mtu, true);
      try {
        ioctlBuffer(sock, SIOCSIFMTU, ifr, "SIOCSIFMTU");
      } catch (e) {
        throw fail(e, `set MTU ${o.mtu}`);
      }
    }
    try {
      ioctlBuffer(sock, SIOCGIFMTU, ifr, "SIOCGIFMTU");
    } catch (e) {
      throw fail(e, "read the MTU");
    }
    const mtu = dv.getInt32(IFREQ_DATA, true);

    let txQueueLen: number;
    try {
      ioctlBuffer(sock, SIOCGIFTXQLEN, ifr, "SIOCGIFTXQLEN");
      txQueueLen = dv.getInt32(IFREQ_DATA, true);
      const wanted = o.txQueueLen ?? DEFAULT_TUN_TX_QUEUE_LEN;
      if (wanted > txQueueLen) {
        dv.setInt32(IFREQ_DATA, wanted, true);
        try {
          ioctlBuffer(sock, SIOCSIFTXQLEN, ifr, "SIOCSIFTXQLEN");
          txQueueLen = wanted;
        } catch (e) {
          // An unprivileged owner may attach to a persistent device but not
          // resize it (CAP_NET_ADMIN): it keeps the length it has.
          if (!(e instanceof Errno) || (e.errno !== ERRNO.EPERM && e.errno !== ERRNO.EACCES)) throw e;
        }
      }
    } catch (e) {
      throw fail(e, "set the transmit queue length");
    }

    let mac = LinkAddress.EMPTY;
    if (o.mode === "tap") {
      try {
        ioctlBuffer(sock, SIOCGIFHWADDR, ifr, "SIOCGIFHWADDR");
      } catch (e) {
        throw fail(e, "read the MAC address");
      }
      mac = LinkAddress.fromBytes(ifr, IFREQ_HWADDR, 6);
    }

    if (o.up !== false) {
      try {
        ioctlBuffer(sock, SIOCGIFFLAGS, ifr, "SIOCGIFFLAGS");
        const flags = dv.getUint16(IFREQ_DATA, true);
        if ((flags & IFF_UP) === 0) {
          dv.setUint16(IFREQ_DATA, flags | IFF_UP, true);
          ioctlBuffer(sock, SIOCSIFFLAGS, ifr, "SIOCSIFFLAGS");
        }
      } catch (e) {
        throw fail(e, "bring up");
      }
    }
    return { mtu, mac, txQueueLen };
  } finally {
    close(sock);
  }
}

class OpenTunDevice implements TunDevice {
  private closed = false;
  constructor(
    readonly fd: number,
    readonly name: string,
    readonly mode: "tun" | "tap",
    readonly vnetHdr: boolean,
    readonly offloads: number,
    readonly mtu: number,
    readonly mac: LinkAddress,
    readonly txQueueLen: number,
  ) {}

  close(): void {
    if (this.closed) return;
    this.closed = true;
    close(this.fd);
  }
}
