/**
 * Gives the kernel side of a TUN/TAP device an address, through ioctls
 * (no `ip` binary needed): `SIOCSIFADDR` + `SIOCSIFNETMASK` for IPv4 on an
 * AF_INET socket, and `SIOCSIFADDR` with a `struct in6_ifreq` on an AF_INET6
 * socket for IPv6. Used by `netstack serve` when it creates the device itself.
 */
import type { Address } from "../../tcpip/address.ts";
import { AF_INET, AF_INET6, SOCK_CLOEXEC, SOCK_DGRAM } from "../rawfile/constants.ts";
import { Errno } from "../rawfile/errno.ts";
import { close, ioctlBuffer, socket } from "../rawfile/syscalls.ts";
import { IFREQ_DATA, ifreqView, newIfreq } from "./ifreq.ts";

const SIOCSIFADDR = 0x8916;
const SIOCSIFNETMASK = 0x891c;
const SIOCGIFINDEX = 0x8933;
/** struct in6_ifreq { struct in6_addr addr; u32 prefixlen; int ifindex; } */
const IN6_IFREQ_SIZE = 24;

export function addHostAddress(ifname: string, address: Address, prefixLen: number): void {
  const what = `Cannot add ${address}/${prefixLen} to "${ifname}"`;
  const wrap = (e: unknown) =>
    e instanceof Errno ? new Errno(e.errno, e.syscall, `${what}: ${e.message}`) : e;
  if (address.is4) {
    const sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC);
    try {
      const ifr = newIfreq(ifname);
      const dv = ifreqView(ifr);
      // struct sockaddr_in in the ifreq union: family, port, address.
      dv.setUint16(IFREQ_DATA, AF_INET, true);
      ifr.set(address.bytes, IFREQ_DATA + 4);
      ioctlBuffer(sock, SIOCSIFADDR, ifr, "SIOCSIFADDR");
      const mask = new Uint8Array(4);
      for (let i = 0; i < 4; i++)
        mask[i] = (0xff << (8 - Math.max(0, Math.min(8, prefixLen - 8 * i)))) & 0xff;
      ifr.fill(0, IFREQ_DATA);
      dv.setUint16(IFREQ_DATA, AF_INET, true);
      ifr.set(mask, IFREQ_DATA + 4);
      ioctlBuffer(sock, SIOCSIFNETMASK, ifr, "SIOCSIFNETMASK");
    } catch (e) {
      throw wrap(e);
    } finally {
      close(sock);
    }
    return;
  }
  const sock = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC);
  try {
    const ifr = newIfreq(ifname);
    ioctlBuffer(sock, SIOCGIFINDEX, ifr, "SIOCGIFINDEX");
    const index = ifreqView(ifr).getInt32(IFREQ_DATA, true);
    const req = new Uint8Array(IN6_IFREQ_SIZE);
    req.set(address.bytes, 0);
    const dv = new DataView(req.buffer);
    dv.setUint32(16, prefixLen, true);
    dv.setInt32(20, index, true);
    ioctlBuffer(sock, SIOCSIFADDR, req, "SIOCSIFADDR");
  } catch (e) {
    throw wrap(e);
  } finally {
    close(sock);
  }
}
