/**
 * One human-readable line per packet, in the spirit of the seed's sniffer:
 *
 *   send tcp 198.18.0.1:80 -> 198.18.0.2:1234 len:0 id:0001 flags:SA seq:100 ack:1 win:65535 xsum:0x1c46 opts:[mss 1460]
 *   recv udp 198.18.0.2:53 -> 198.18.0.1:4000 len:12 id:0007 xsum:0x0000
 *   send icmp 198.18.0.1 -> 198.18.0.2 echo request len:8 id:0002 code:0
 *   recv arp 198.18.0.1 (02:00:00:00:00:01) -> 198.18.0.2 (00:00:00:00:00:00) request valid:true
 *
 * `len` is the transport payload length (IP payload for ICMP). Every read is
 * bounds-checked: a truncated or malformed packet gives a line that says
 * "malformed", never an exception. Not a hot path: it allocates freely.
 */
import { Address } from "../../tcpip/address.ts";

const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_ARP = 0x0806;
const ETHERTYPE_IPV6 = 0x86dd;
const PROTO_ICMPV4 = 1;
const PROTO_TCP = 6;
const PROTO_UDP = 17;
const PROTO_ICMPV6 = 58;
const ETHERNET_HEADER_LENGTH = 14;

export type Direction = "send" | "recv";

/** A bounds-checked window over one packet's bytes. */
class Bytes {
  constructor(
    readonly b: Uint8Array,
    readonly start: number,
    readonly end: number,
  ) {}
  has(off: number, n: number): boolean {
    return off >= 0 && this.start + off + n <= this.end;
  }
  u8(off: number): number {
    return this.b[this.start + off] ?? 0;
  }
  u16(off: number): number {
    return (this.u8(off) << 8) | this.u8(off + 1);
  }
  u32(off: number): number {
    return (
      ((this.u8(off) << 24) | (this.u8(off + 1) << 16) | (this.u8(off + 2) << 8) | this.u8(off + 3)) >>> 0
    );
  }
  sub(off: number, end = this.end - this.start): Bytes {
    return new Bytes(this.b, this.start + off, Math.min(this.end, this.start + end));
  }
  get length(): number {
    return this.end - this.start;
  }
}

/**
 * Formats one packet. `protocol` is the network protocol (an EtherType; 0 if
 * unknown, then the IP version nibble decides); with `frame` set the bytes
 * start with an Ethernet II header and `protocol` is ignored.
 */
export function formatPacket(
  dir: Direction,
  protocol: number,
  bytes: Uint8Array,
  frame = false,
  prefix = "",
): string {
  try {
    return prefix + formatChecked(dir, protocol, new Bytes(bytes, 0, bytes.length), frame);
  } catch {
    // Unreachable by design (every read is checked); a log line must never take the link down.
    return `${prefix}${dir} undecodable len:${bytes.length}`;
  }
}

function formatChecked(dir: Direction, protocol: number, p: Bytes, frame: boolean): string {
  if (frame) {
    if (!p.has(0, ETHERNET_HEADER_LENGTH)) return `${dir} ethernet malformed len:${p.length}`;
    protocol = p.u16(12);
    p = p.sub(ETHERNET_HEADER_LENGTH);
  }
  if (protocol === 0 && p.length > 0) {
    const v = p.u8(0) >>> 4;
    if (v === 4) protocol = ETHERTYPE_IPV4;
    else if (v === 6) protocol = ETHERTYPE_IPV6;
  }
  switch (protocol) {
    case ETHERTYPE_IPV4:
      return formatIpv4(dir, p);
    case ETHERTYPE_IPV6:
      return formatIpv6(dir, p);
    case ETHERTYPE_ARP:
      return formatArp(dir, p);
    default:
      return `${dir} unknown network protocol: 0x${hex(protocol, 4)} len:${p.length}`;
  }
}

interface IpInfo {
  src: string;
  dst: string;
  id: number;
  fragmentOffset: number;
  moreFragments: boolean;
}

function formatIpv4(dir: Direction, p: Bytes): string {
  // RFC 791 §3.1: version, IHL in 32-bit words, total length.
  if (!p.has(0, 20) || p.u8(0) >>> 4 !== 4) return `${dir} ipv4 malformed len:${p.length}`;
  const ihl = (p.u8(0) & 0x0f) * 4;
  const total = p.u16(2);
  if (ihl < 20 || ihl > p.length || total < ihl) return `${dir} ipv4 malformed len:${p.length}`;
  const end = Math.min(total, p.length);
  const fo = p.u16(6);
  const ip: IpInfo = {
    src: dotted(p, 12),
    dst: dotted(p, 16),
    id: p.u16(4),
    fragmentOffset: (fo & 0x1fff) * 8,
    moreFragments: (fo & 0x2000) !== 0,
  };
  return formatTransport(dir, p.u8(9), p.sub(ihl, end), ip, false);
}

function formatIpv6(dir: Direction, p: Bytes): string {
  // RFC 8200 §3: fixed 40-byte header, then a chain of extension headers.
  if (!p.has(0, 40) || p.u8(0) >>> 4 !== 6) return `${dir} ipv6 malformed len:${p.length}`;
  const end = Math.min(40 + p.u16(4), p.length);
  const ip: IpInfo = {
    src: Address.fromBytes(p.b, p.start + 8, 16).toString(),
    dst: Address.fromBytes(p.b, p.start + 24, 16).toString(),
    id: 0,
    fragmentOffset: 0,
    moreFragments: false,
  };
  let next = p.u8(6);
  let off = 40;
  for (let hops = 0; hops < 16; hops++) {
    if (next === 0 || next === 43 || next === 60) {
      // Hop-by-hop, routing, destination options: length in 8-octet units, not counting the first 8.
      if (off + 2 > end) return `${dir} ipv6 ${ip.src} -> ${ip.dst} malformed extension header`;
      const n = (p.u8(off + 1) + 1) * 8;
      next = p.u8(off);
      off += n;
    } else if (next === 44) {
      // RFC 8200 §4.5 fragment header.
      if (off + 8 > end) return `${dir} ipv6 ${ip.src} -> ${ip.dst} malformed fragment header`;
      const fo = p.u16(off + 2);
      ip.fragmentOffset = fo & 0xfff8;
      ip.moreFragments = (fo & 1) !== 0;
      ip.id = p.u32(off + 4);
      next = p.u8(off);
      off += 8;
    } else if (next === 51) {
      // RFC 4302 §2.2 authentication header: length in 4-octet units minus 2.
      if (off + 2 > end) return `${dir} ipv6 ${ip.src} -> ${ip.dst} malformed extension header`;
      const n = (p.u8(off + 1) + 2) * 4;
      next = p.u8(off);
      off += n;
    } else {
      break;
    }
  }
  if (off > end) return `${dir} ipv6 ${ip.src} -> ${ip.dst} malformed extension header`;
  return formatTransport(dir, next, p.sub(off, end), ip, true);
}

function formatTransport(dir: Direction, proto: number, t: Bytes, ip: IpInfo, v6: boolean): string {
  const frag = ip.fragmentOffset !== 0 || ip.moreFragments ? " fragment" : "";
  const id = hex(ip.id, 4);
  const first = ip.fragmentOffset === 0;
  switch (proto) {
    case PROTO_ICMPV4:
    case PROTO_ICMPV6: {
      const name = proto === PROTO_ICMPV4 ? "icmp" : "icmpv6";
      if (!first) return `${dir} ${name} ${ip.src} -> ${ip.dst} len:${t.length} id:${id}${frag}`;
      if (!t.has(0, 4)) return `${dir} ${name} ${ip.src} -> ${ip.dst} malformed len:${t.length} id:${id}`;
      const type = (proto === PROTO_ICMPV4 ? ICMPV4_TYPES : ICMPV6_TYPES)[t.u8(0)] ?? `type ${t.u8(0)}`;
      return `${dir} ${name} ${ip.src} -> ${ip.dst} ${type} len:${t.length} id:${id} code:${t.u8(1)}${frag}`;
    }
    case PROTO_UDP: {
      if (!first) return `${dir} udp ${ip.src}:0 -> ${ip.dst}:0 len:${t.length} id:${id}${frag}`;
      if (!t.has(0, 8)) return `${dir} udp ${ip.src} -> ${ip.dst} malformed len:${t.length} id:${id}`;
      return `${dir} udp ${ip.src}:${t.u16(0)} -> ${ip.dst}:${t.u16(2)} len:${t.length - 8} id:${id} xsum:0x${hex(t.u16(6), 4)}${frag}`;
    }
    case PROTO_TCP: {
      if (!first) return `${dir} tcp ${ip.src}:0 -> ${ip.dst}:0 len:${t.length} id:${id}${frag}`;
      // RFC 9293 §3.1: data offset in 32-bit words, at least 5.
      const doff = t.has(0, 20) ? (t.u8(12) >>> 4) * 4 : 0;
      if (doff < 20 || (doff > t.length && !ip.moreFragments)) {
        return `${dir} tcp ${ip.src} -> ${ip.dst} malformed len:${t.length} id:${id}`;
      }
      const opts = doff > 20 ? tcpOptions(t.sub(20, doff)) : "";
      return (
        `${dir} tcp ${ip.src}:${t.u16(0)} -> ${ip.dst}:${t.u16(2)} len:${Math.max(0, t.length - doff)} id:${id}` +
        ` flags:${tcpFlags(t.u8(13))} seq:${t.u32(4)} ack:${t.u32(8)} win:${t.u16(14)} xsum:0x${hex(t.u16(16), 4)}` +
        `${opts}${frag}`
      );
    }
    default:
      return `${dir} ${v6 ? "ipv6" : "ipv4"} ${ip.src} -> ${ip.dst} unknown transport protocol: ${proto} len:${t.length}`;
  }
}

function formatArp(dir: Direction, p: Bytes): string {
  // RFC 826: Ethernet/IPv4 ARP is 28 bytes (htype 1, ptype 0x0800, hlen 6, plen 4).
  if (!p.has(0, 8)) return `${dir} arp malformed len:${p.length}`;
  const hlen = p.u8(4);
  const plen = p.u8(5);
  const valid = p.u16(0) === 1 && p.u16(2) === ETHERTYPE_IPV4 && hlen === 6 && plen === 4 && p.has(0, 28);
  if (!p.has(0, 8 + 2 * hlen + 2 * plen) || plen !== 4) return `${dir} arp malformed len:${p.length}`;
  const op = p.u16(6);
  const opName = op === 1 ? "request" : op === 2 ? "reply" : `op ${op}`;
  const sha = mac(p, 8, hlen);
  const spa = dotted(p, 8 + hlen);
  const tha = mac(p, 8 + hlen + plen, hlen);
  const tpa = dotted(p, 8 + 2 * hlen + plen);
  return `${dir} arp ${spa} (${sha}) -> ${tpa} (${tha}) ${opName} valid:${valid}`;
}

function tcpFlags(f: number): string {
  // Letters as tcpdump uses them, in header bit order from SYN up.
  let s = "";
  if (f & 0x02) s += "S";
  if (f & 0x01) s += "F";
  if (f & 0x04) s += "R";
  if (f & 0x08) s += "P";
  if (f & 0x10) s += "A";
  if (f & 0x20) s += "U";
  if (f & 0x40) s += "E";
  if (f & 0x80) s += "C";
  return s === "" ? "none" : s;
}

/** RFC 9293 §3.2, RFC 7323, RFC 2018 options, tolerant of bad lengths. */
function tcpOptions(o: Bytes): string {
  const out: string[] = [];
  for (let i = 0; i < o.length; ) {
    const kind = o.u8(i);
    if (kind === 0) break;
    if (kind === 1) {
      i++;
      continue;
    }
    if (!o.has(i, 2)) {
      out.push("malformed");
      break;
    }
    const len = o.u8(i + 1);
    if (len < 2 || !o.has(i, len)) {
      out.push("malformed");
      break;
    }
    if (kind === 2 && len === 4) out.push(`mss ${o.u16(i + 2)}`);
    else if (kind === 3 && len === 3) out.push(`wscale ${o.u8(i + 2)}`);
    else if (kind === 4 && len === 2) out.push("sackOK");
    else if (kind === 8 && len === 10) out.push(`TS val ${o.u32(i + 2)} ecr ${o.u32(i + 6)}`);
    else if (kind === 5 && (len - 2) % 8 === 0) {
      const blocks: string[] = [];
      for (let j = i + 2; j < i + len; j += 8) blocks.push(`${o.u32(j)}-${o.u32(j + 4)}`);
      out.push(`sack ${blocks.join(",")}`);
    } else out.push(`opt ${kind}`);
    i += len;
  }
  return out.length > 0 ? ` opts:[${out.join(",")}]` : "";
}

function dotted(p: Bytes, off: number): string {
  return `${p.u8(off)}.${p.u8(off + 1)}.${p.u8(off + 2)}.${p.u8(off + 3)}`;
}

function mac(p: Bytes, off: number, len: number): string {
  const parts: string[] = [];
  for (let i = 0; i < len; i++) parts.push(hex(p.u8(off + i), 2));
  return parts.join(":");
}

function hex(n: number, width: number): string {
  return n.toString(16).padStart(width, "0");
}

const ICMPV4_TYPES: Record<number, string> = {
  0: "echo reply",
  3: "destination unreachable",
  4: "source quench",
  5: "redirect",
  8: "echo request",
  11: "time exceeded",
  12: "param problem",
  13: "timestamp",
  14: "timestamp reply",
};

const ICMPV6_TYPES: Record<number, string> = {
  1: "destination unreachable",
  2: "packet too big",
  3: "time exceeded",
  4: "param problem",
  128: "echo request",
  129: "echo reply",
  133: "router solicitation",
  134: "router advertisement",
  135: "neighbor solicitation",
  136: "neighbor advertisement",
  137: "redirect",
};
