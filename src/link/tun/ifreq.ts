/**
 * `struct ifreq` (linux/if.h): `char ifr_name[16]` then a 24-byte union
 * (`short ifr_flags`, `int ifr_mtu`, `struct sockaddr ifr_hwaddr`, ...).
 */
export const IFNAMSIZ = 16;
export const IFREQ_SIZE = 40;
export const IFREQ_NAME = 0;
/** Offset of the union: flags (u16), mtu (i32), or a sockaddr. */
export const IFREQ_DATA = 16;
/** `ifr_hwaddr.sa_data`: the MAC bytes, after the 2-byte `sa_family`. */
export const IFREQ_HWADDR = 18;

export const TUNSETIFF = 0x400454ca;
export const TUNSETPERSIST = 0x400454cb;
export const TUNGETIFF = 0x800454d2;
export const TUNSETOFFLOAD = 0x400454d0;
export const TUNSETVNETHDRSZ = 0x400454d8;

export const SIOCGIFFLAGS = 0x8913;
export const SIOCSIFFLAGS = 0x8914;
export const SIOCGIFMTU = 0x8921;
export const SIOCSIFMTU = 0x8922;
export const SIOCSIFHWADDR = 0x8924;
export const SIOCGIFHWADDR = 0x8927;
export const SIOCGIFTXQLEN = 0x8942;
export const SIOCSIFTXQLEN = 0x8943;

export const IFF_UP = 0x1;

export const IFF_TUN = 0x0001;
export const IFF_TAP = 0x0002;
export const IFF_MULTI_QUEUE = 0x0100;
export const IFF_NO_PI = 0x1000;
export const IFF_VNET_HDR = 0x4000;

/** `TUNSETOFFLOAD` bits: which offloaded packets the device may hand us (and we may hand it). */
export const TUN_F_CSUM = 0x01;
export const TUN_F_TSO4 = 0x02;
export const TUN_F_TSO6 = 0x04;
export const TUN_F_TSO_ECN = 0x08;
export const TUN_F_UFO = 0x10;
export const TUN_F_USO4 = 0x20;
export const TUN_F_USO6 = 0x40;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Why `name` is not a valid interface name, or `undefined` when it is
 * (the kernel's `dev_valid_name`: 1..15 bytes, not "." or "..", no "/", ":" or whitespace).
 */
export function invalidInterfaceName(name: string): string | undefined {
  const len = encoder.encode(name).length;
  if (len === 0) return "empty name";
  if (len >= IFNAMSIZ) return `longer than ${IFNAMSIZ - 1} bytes`;
  if (name === "." || name === "..") return `"${name}" is reserved`;
  if (/[/:\s]/.test(name)) return 'contains "/", ":" or whitespace';
  return undefined;
}

/** A zeroed `struct ifreq` with `name` filled in (at most 15 bytes, NUL-terminated). */
export function newIfreq(name: string): Uint8Array {
  const ifr = new Uint8Array(IFREQ_SIZE);
  encoder.encodeInto(name, ifr.subarray(IFREQ_NAME, IFNAMSIZ - 1));
  return ifr;
}

export function ifreqName(ifr: Uint8Array): string {
  let end = 0;
  while (end < IFNAMSIZ && ifr[end] !== 0) end++;
  return decoder.decode(ifr.subarray(0, end));
}

export function ifreqView(ifr: Uint8Array): DataView {
  return new DataView(ifr.buffer, ifr.byteOffset, ifr.byteLength);
}
