/**
 * Test packets built with the header encoders: IPv4/IPv6 with TCP, UDP and
 * ICMP echo, as a hook would see them (starting at the IP header).
 */
import { checksum, finishChecksum, pseudoHeaderChecksum } from "../../header/checksum.ts";
import { encodeIcmpv4, ICMPV4_ECHO, ICMPV4_ECHO_REPLY } from "../../header/icmpv4.ts";
import { encodeIcmpv6, ICMPV6_ECHO_REPLY, ICMPV6_ECHO_REQUEST } from "../../header/icmpv6.ts";
import { encodeIpv4 } from "../../header/ipv4.ts";
import { encodeIpv6 } from "../../header/ipv6.ts";
import { encodeTcp, encodeTcpOptions, TCP_CHECKSUM_OFFSET } from "../../header/tcp.ts";
import { encodeUdp, UDP_CHECKSUM_OFFSET } from "../../header/udp.ts";
import type { Address } from "../../tcpip/address.ts";
import {
  ICMPV4_PROTOCOL_NUMBER,
  ICMPV6_PROTOCOL_NUMBER,
  TCP_PROTOCOL_NUMBER,
  UDP_PROTOCOL_NUMBER,
} from "../../tcpip/protocols.ts";

export interface TcpSpec {
  sport: number;
  dport: number;
  flags: number;
  seq: number;
  ack?: number;
  win?: number;
  /** Payload bytes (zeros). */
  len?: number;
  /** Window Scale option. */
  ws?: number;
  mss?: number;
}

function ipHeaderLength(src: Address): number {
  return src.is4 ? 20 : 40;
}

/** Writes the IP header in front of a transport payload of `tlen` bytes at `ipLen`. */
function ip(b: Uint8Array, src: Address, dst: Address, proto: number, tlen: number): void {
  if (src.is4) {
    encodeIpv4(b, 0, { totalLength: 20 + tlen, ttl: 64, protocol: proto, src, dst, id: 1 });
    return;
  }
  encodeIpv6(b, 0, { payloadLength: tlen, nextHeader: proto, hopLimit: 64, src, dst });
}

export function tcpPacket(src: Address, dst: Address, s: TcpSpec): Uint8Array {
  const opts = new Uint8Array(40);
  const optLen =
    s.ws !== undefined || s.mss !== undefined
      ? encodeTcpOptions(opts, 0, {
          ...(s.mss !== undefined ? { mss: s.mss } : {}),
          ...(s.ws !== undefined ? { windowScale: s.ws } : {}),
        })
      : 0;
  const hl = ipHeaderLength(src);
  const tlen = 20 + optLen + (s.len ?? 0);
  const b = new Uint8Array(hl + tlen);
  ip(b, src, dst, TCP_PROTOCOL_NUMBER, tlen);
  encodeTcp(b, hl, {
    srcPort: s.sport,
    dstPort: s.dport,
    seq: s.seq >>> 0,
    ack: (s.ack ?? 0) >>> 0,
    flags: s.flags,
    window: s.win ?? 65535,
    options: opts.subarray(0, optLen),
  });
  const sum = checksum(b, hl, tlen, pseudoHeaderChecksum(TCP_PROTOCOL_NUMBER, src, dst, tlen));
  b[hl + TCP_CHECKSUM_OFFSET] = finishChecksum(sum) >> 8;
  b[hl + TCP_CHECKSUM_OFFSET + 1] = finishChecksum(sum) & 255;
  return b;
}

export function udpPacket(src: Address, dst: Address, sport: number, dport: number, len = 0): Uint8Array {
  const hl = ipHeaderLength(src);
  const tlen = 8 + len;
  const b = new Uint8Array(hl + tlen);
  ip(b, src, dst, UDP_PROTOCOL_NUMBER, tlen);
  encodeUdp(b, hl, { srcPort: sport, dstPort: dport, length: tlen });
  const sum = finishChecksum(
    checksum(b, hl, tlen, pseudoHeaderChecksum(UDP_PROTOCOL_NUMBER, src, dst, tlen)),
  );
  b[hl + UDP_CHECKSUM_OFFSET] = sum >> 8;
  b[hl + UDP_CHECKSUM_OFFSET + 1] = sum & 255;
  return b;
}

/** ICMP echo request (`reply` false) or reply; ICMPv6 (types 128/129) for IPv6 addresses. */
export function echoPacket(
  src: Address,
  dst: Address,
  ident: number,
  sequence: number,
  reply = false,
  len = 8,
) {
  const hl = ipHeaderLength(src);
  const tlen = 8 + len;
  const b = new Uint8Array(hl + tlen);
  const v4 = src.is4;
  ip(b, src, dst, v4 ? ICMPV4_PROTOCOL_NUMBER : ICMPV6_PROTOCOL_NUMBER, tlen);
  if (v4)
    encodeIcmpv4(b, hl, {
      type: reply ? ICMPV4_ECHO_REPLY : ICMPV4_ECHO,
      code: 0,
      ident,
      sequence,
      payloadLength: len,
    });
  else {
    const type = reply ? ICMPV6_ECHO_REPLY : ICMPV6_ECHO_REQUEST;
    encodeIcmpv6(b, hl, { type, code: 0, ident, sequence, payloadLength: len, src, dst });
  }
  return b;
}

/** An ICMPv4 message of any type (for errors, which the table does not track). */
export function icmpPacket(src: Address, dst: Address, type: number, code: number): Uint8Array {
  const b = new Uint8Array(20 + 8);
  ip(b, src, dst, ICMPV4_PROTOCOL_NUMBER, 8);
  encodeIcmpv4(b, 20, { type, code, ident: 0, sequence: 0 });
  return b;
}
