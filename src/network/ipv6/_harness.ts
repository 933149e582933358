/**
 * Test fixtures for the IPv6 layer (imported only by `*.test.ts`): stacks on
 * Ethernet channels wired by a pipe, a minimal UDP-like transport to watch
 * deliveries and errors, packet builders and a decoder for captured frames.
 */
import { PacketBuffer } from "../../buffer/packet-buffer.ts";
import { readU16, readU32, writeU16 } from "../../header/bytes.ts";
import { checksum, finishChecksum, pseudoHeaderChecksum } from "../../header/checksum.ts";
import { encodeIpv6, IPV6_HEADER_SIZE } from "../../header/ipv6.ts";
import {
  IPV6_DESTINATION_OPTIONS,
  IPV6_FRAGMENT,
  IPV6_HOP_BY_HOP,
  IPV6_ROUTING,
} from "../../header/ipv6-extension.ts";
import { ChannelEndpoint } from "../../link/channel/channel.ts";
import { connectChannels, type Pipe } from "../../link/channel/pipe.ts";
import { newEthernetChannel } from "../../link/ethernet/ethernet-channel.ts";
import type { NIC } from "../../stack/nic.ts";
import type {
  ControlType,
  TransportEndpoint,
  TransportEndpointId,
  TransportPacketInfo,
  TransportProtocol,
} from "../../stack/registration.ts";
import { Stack } from "../../stack/stack.ts";
import { Address } from "../../tcpip/address.ts";
import { ManualClock } from "../../tcpip/clock.ts";
import { LinkAddress, parseMACAddress } from "../../tcpip/link-address.ts";
import { ICMPV6_PROTOCOL_NUMBER, IPV6_PROTOCOL_NUMBER } from "../../tcpip/protocols.ts";
import { SeededRandom } from "../../tcpip/random.ts";
import { Subnet } from "../../tcpip/subnet.ts";
import type { Ipv6Endpoint } from "./endpoint.ts";
import { type Ipv6Options, ipv6 } from "./protocol.ts";

export const UDP = 17;
export const MAC_A = parseMACAddress("02:00:00:00:00:0a");
export const MAC_B = parseMACAddress("02:00:00:00:00:0b");
export const MAC_R = parseMACAddress("02:00:00:00:00:01");
export const a6 = (s: string) => Address.parse(s);

/** What a test endpoint saw. */
export interface Seen {
  packets: { data: Uint8Array; info: TransportPacketInfo }[];
  controls: { type: ControlType; extra: number; remote: Address | undefined }[];
}

/** A UDP-shaped transport (ports in the first 4 bytes, 8-byte header, no checksum check). */
export function testUdp(): TransportProtocol {
  return {
    number: UDP,
    name: "test-udp",
    minimumPacketSize: 8,
    parsePorts: (b, off, len) => (len < 4 ? undefined : { src: readU16(b, off), dst: readU16(b, off + 2) }),
    handleUnknownDestinationPacket: () => false,
  };
}

export interface Host {
  stack: Stack;
  wire: ChannelEndpoint;
  nic: NIC;
  ep: Ipv6Endpoint;
  mac: LinkAddress;
  /** The host's fe80:: address from its MAC. */
  linkLocal: Address;
  /** Listens on `port` (all addresses) and records packets and errors. */
  listen(port: number): Seen;
}

export function makeHost(
  clock: ManualClock,
  mac: LinkAddress,
  seed: number,
  opts: Ipv6Options = {},
  mtu = 1500,
  mode: "frame" | "ip" = "frame",
): Host {
  const stack = new Stack({
    networkProtocols: [ipv6(opts)],
    transportProtocols: [() => testUdp()],
    clock,
    random: new SeededRandom(seed),
  });
  let wire: ChannelEndpoint;
  if (mode === "frame") {
    const ch = newEthernetChannel({ mtu, linkAddress: mac });
    wire = ch.wire;
    stack.createNIC(1, ch.link);
  } else {
    // An IP-mode link (TUN): no link addresses, no resolution.
    wire = new ChannelEndpoint({ mtu, mode: "ip" });
    stack.createNIC(1, wire);
  }
  const nic = stack.nic(1)!;
  const ep = nic.endpoints.get(IPV6_PROTOCOL_NUMBER) as Ipv6Endpoint;
  const b = mac.bytes;
  const linkLocal = Address.fromBytes(
    Uint8Array.of(0xfe, 0x80, 0, 0, 0, 0, 0, 0, b[0]! ^ 2, b[1]!, b[2]!, 0xff, 0xfe, b[3]!, b[4]!, b[5]!),
  );
  return {
    stack,
    wire,
    nic,
    ep,
    mac,
    linkLocal,
    listen(port: number): Seen {
      const seen: Seen = { packets: [], controls: [] };
      const id: TransportEndpointId = {
        localPort: port,
        localAddress: undefined,
        remotePort: 0,
        remoteAddress: undefined,
      };
      const tep: TransportEndpoint = {
        handlePacket: (_id, pkt, info) => seen.packets.push({ data: pkt.bytes().slice(8), info }),
        handleControlPacket: (cid, type, extra) =>
          seen.controls.push({ type, extra, remote: cid.remoteAddress }),
      };
      stack.registerTransportEndpoint(0, [IPV6_PROTOCOL_NUMBER], UDP, id, tep, {});
      return seen;
    },
  };
}

/** A decoded IPv6 packet seen on a wire. */
export interface Frame {
  from: "a" | "b";
  linkSrc: LinkAddress | undefined;
  linkDst: LinkAddress | undefined;
  bytes: Uint8Array;
  src: Address;
  dst: Address;
  hopLimit: number;
  nextHeader: number;
  /** Upper-layer protocol and offset after extension headers (fragments: the fragment header's next header). */
  proto: number;
  upper: number;
  fragment?: { offset: number; more: boolean; id: number };
  icmpType?: number;
  icmpCode?: number;
}

export function decodeIpv6(bytes: Uint8Array): Omit<Frame, "from" | "linkSrc" | "linkDst"> | undefined {
  if (bytes.length < IPV6_HEADER_SIZE || bytes[0]! >> 4 !== 6) return undefined;
  const f: Omit<Frame, "from" | "linkSrc" | "linkDst"> = {
    bytes,
    src: Address.fromBytes(bytes, 8, 16),
    dst: Address.fromBytes(bytes, 24, 16),
    hopLimit: bytes[7]!,
    nextHeader: bytes[6]!,
    proto: bytes[6]!,
    upper: IPV6_HEADER_SIZE,
  };
  let nh = bytes[6]!;
  let off = IPV6_HEADER_SIZE;
  for (;;) {
    if (nh === IPV6_HOP_BY_HOP || nh === IPV6_ROUTING || nh === IPV6_DESTINATION_OPTIONS) {
      const next = bytes[off]!;
      off += (bytes[off + 1]! + 1) * 8;
      nh = next;
      continue;
    }
    if (nh === IPV6_FRAGMENT) {
      f.fragment = {
        offset: readU16(bytes, off + 2) & 0xfff8,
        more: (bytes[off + 3]! & 1) === 1,
        id: readU32(bytes, off + 4),
      };
      nh = bytes[off]!;
      off += 8;
      if (f.fragment.offset !== 0) break;
      continue;
    }
    break;
  }
  f.proto = nh;
  f.upper = off;
  if (nh === ICMPV6_PROTOCOL_NUMBER && off + 2 <= bytes.length && !(f.fragment && f.fragment.offset !== 0)) {
    f.icmpType = bytes[off]!;
    f.icmpCode = bytes[off + 1]!;
  }
  return f;
}

export interface Lan {
  clock: ManualClock;
  a: Host;
  b: Host;
  pipe: Pipe;
  frames: Frame[];
  /** Return false to lose a frame. */
  drop: ((f: Frame) => boolean) | undefined;
  /** Advances the clock in 10 ms steps (the pipe flushes on every write). */
  run(ms: number): void;
  /** Frames matching an ICMPv6 type (and sender). */
  icmp(type: number, from?: "a" | "b"): Frame[];
}

export function twoHosts(
  opts: { a?: Ipv6Options; b?: Ipv6Options; mtu?: number; mode?: "frame" | "ip" } = {},
): Lan {
  const clock = new ManualClock();
  const mode = opts.mode ?? "frame";
  const a = makeHost(clock, MAC_A, 1, opts.a, opts.mtu, mode);
  const b = makeHost(clock, MAC_B, 2, opts.b, opts.mtu, mode);
  const frames: Frame[] = [];
  const lan: Lan = {
    clock,
    a,
    b,
    frames,
    drop: undefined,
    pipe: connectChannels(a.wire, b.wire, {
      auto: true,
      filter: (from, info) => {
        const raw = info.pkt.bytes();
        const eth = mode === "frame";
        const ip = eth ? raw.subarray(14) : raw;
        const d = decodeIpv6(ip.slice());
        if (!d) return true;
        const f: Frame = {
          ...d,
          from: from === a.wire ? "a" : "b",
          linkDst: eth ? LinkAddress.fromBytes(raw, 0) : undefined,
          linkSrc: eth ? LinkAddress.fromBytes(raw, 6) : undefined,
        };
        frames.push(f);
        return !lan.drop?.(f);
      },
    }),
    run(ms: number) {
      for (let t = 0; t < ms; t += 10) clock.advance(Math.min(10, ms - t));
    },
    icmp(type: number, from?: "a" | "b") {
      return frames.filter((f) => f.icmpType === type && (from === undefined || f.from === from));
    },
  };
  // Frames written while the NICs came up (before the pipe existed) cross now.
  lan.pipe.flush();
  return lan;
}

/** Adds `addr`/64 to host NIC 1 with an on-link route for its /64. */
export function addGlobal(h: Host, addr: Address, tentative = false): void {
  h.stack.addAddress(1, IPV6_PROTOCOL_NUMBER, addr, 64, { tentative });
  const b = addr.bytes.slice();
  b.fill(0, 8);
  h.stack.addRoute({ destination: Subnet.fromPrefix(Address.fromBytes(b), 64), nic: 1 });
}

/** Sends an ICMPv6 echo request from `h` to `dst` (through the route table; NIC 1 for link-local). */
export function ping(h: Host, dst: Address, seq = 1, data = new Uint8Array(8)): void {
  const r = h.stack.findRoute(
    dst.isLinkLocalUnicast || dst.isMulticast ? 1 : 0,
    undefined,
    dst,
    IPV6_PROTOCOL_NUMBER,
  );
  const len = 8 + data.length;
  const pkt = PacketBuffer.alloc(r.maxHeaderLength, len);
  const b = pkt.data;
  const o = pkt.head;
  b[o] = 128;
  writeU16(b, o + 4, 0x1234);
  writeU16(b, o + 6, seq);
  b.set(data, o + 8);
  writeU16(
    b,
    o + 2,
    finishChecksum(checksum(b, o, len, r.pseudoHeaderChecksum(ICMPV6_PROTOCOL_NUMBER, len))),
  );
  r.writePacket(pkt, { protocol: ICMPV6_PROTOCOL_NUMBER, ttl: 64, tos: 0 });
  r.release();
}

/** Sends a UDP-shaped datagram from `h` (source port 1000) to `dst`:`port`. */
export function sendUdp(h: Host, dst: Address, port: number, data: Uint8Array, ttl = 64): void {
  const r = h.stack.findRoute(
    dst.isLinkLocalUnicast || dst.isMulticast ? 1 : 0,
    undefined,
    dst,
    IPV6_PROTOCOL_NUMBER,
  );
  const pkt = PacketBuffer.alloc(r.maxHeaderLength, 8 + data.length);
  const b = pkt.data;
  const o = pkt.head;
  writeU16(b, o, 1000);
  writeU16(b, o + 2, port);
  writeU16(b, o + 4, (8 + data.length) & 0xffff);
  b.set(data, o + 8);
  r.writePacket(pkt, { protocol: UDP, ttl, tos: 0 });
  r.release();
}

/** Builds an IPv6 packet: `ext` are raw extension headers (each starting with its Next Header byte, fixed up here). */
export function buildIpv6(opts: {
  src: Address;
  dst: Address;
  hopLimit?: number;
  /** [type, bytes] pairs; the first byte of each is overwritten with the next type. */
  ext?: [number, Uint8Array][];
  proto: number;
  payload: Uint8Array;
}): Uint8Array {
  const ext = opts.ext ?? [];
  let len = 0;
  for (const [, e] of ext) len += e.length;
  len += opts.payload.length;
  const out = new Uint8Array(IPV6_HEADER_SIZE + len);
  encodeIpv6(out, 0, {
    payloadLength: len,
    nextHeader: ext[0]?.[0] ?? opts.proto,
    hopLimit: opts.hopLimit ?? 64,
    src: opts.src,
    dst: opts.dst,
  });
  let off = IPV6_HEADER_SIZE;
  for (let i = 0; i < ext.length; i++) {
    const e = ext[i]![1];
    out.set(e, off);
    out[off] = ext[i + 1]?.[0] ?? opts.proto;
    off += e.length;
  }
  out.set(opts.payload, off);
  return out;
}

/** An ICMPv6 message with its checksum for `src`→`dst`. */
export function icmpv6(src: Address, dst: Address, type: number, code: number, body: Uint8Array): Uint8Array {
  const m = new Uint8Array(4 + body.length);
  m[0] = type;
  m[1] = code;
  m.set(body, 4);
  writeU16(
    m,
    2,
    finishChecksum(
      checksum(m, 0, m.length, pseudoHeaderChecksum(ICMPV6_PROTOCOL_NUMBER, src, dst, m.length)),
    ),
  );
  return m;
}

/** A UDP-shaped payload from port 1000 to `port`. */
export function udpPayload(port: number, data: Uint8Array): Uint8Array {
  const m = new Uint8Array(8 + data.length);
  writeU16(m, 0, 1000);
  writeU16(m, 2, port);
  writeU16(m, 4, m.length & 0xffff);
  m.set(data, 8);
  return m;
}

/** Wraps an IPv6 packet in an Ethernet frame. */
export function ethernet(src: LinkAddress, dst: LinkAddress, ip: Uint8Array): Uint8Array {
  const f = new Uint8Array(14 + ip.length);
  f.set(dst.bytes, 0);
  f.set(src.bytes, 6);
  f[12] = 0x86;
  f[13] = 0xdd;
  f.set(ip, 14);
  return f;
}

/** Injects an IPv6 packet into `h` as if sent by `fromMac` (to `h`'s MAC, or the multicast MAC of `dst`). */
export function inject(h: Host, ip: Uint8Array, fromMac: LinkAddress = MAC_R): void {
  const mac =
    ip.length >= 40 && ip[24] === 0xff
      ? new LinkAddress(Uint8Array.of(0x33, 0x33, ip[36]!, ip[37]!, ip[38]!, ip[39]!))
      : h.mac;
  h.wire.injectInbound(0, ethernet(fromMac, mac, ip));
}
