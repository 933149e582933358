import { afterAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { PacketBuffer } from "../../buffer/packet-buffer.ts";
import { ManualClock } from "../../tcpip/clock.ts";
import { parseMACAddress } from "../../tcpip/link-address.ts";
import { ARP_PROTOCOL_NUMBER, IPV4_PROTOCOL_NUMBER, IPV6_PROTOCOL_NUMBER } from "../../tcpip/protocols.ts";
import { ChannelEndpoint } from "../channel/channel.ts";
import { EthernetEndpoint } from "../ethernet/ethernet.ts";
import { runLinkConformance } from "../testing/conformance.ts";
import { ethernetFrame, parseEthernetFrame } from "../testing/frames.ts";
import { formatPacket } from "./packet-log.ts";
import { LINKTYPE_ETHERNET, LINKTYPE_RAW, readPcap } from "./pcap.ts";
import { SnifferEndpoint } from "./sniffer.ts";

runLinkConformance("sniffer over channel", () => {
  const wire = new ChannelEndpoint({ mtu: 1500 });
  const lines: string[] = [];
  const link = new SnifferEndpoint(wire, {
    clock: new ManualClock(),
    log: (l) => lines.push(l),
    pcap: { write: () => {} },
  });
  return {
    link,
    inject: (protocol, bytes) => wire.injectInbound(protocol, bytes),
    takeWritten: () => wire.readAll().map(({ protocol, pkt }) => ({ protocol, bytes: pkt.bytes() })),
  };
});

runLinkConformance("sniffer over ethernet over channel", () => {
  const macA = parseMACAddress("02:00:00:00:00:0a");
  const peer = parseMACAddress("02:00:00:00:00:99");
  const wire = new ChannelEndpoint({ mtu: 1500, mode: "frame", linkAddress: macA });
  const link = new SnifferEndpoint(new EthernetEndpoint(wire), {
    clock: new ManualClock(),
    log: () => {},
    pcap: { write: () => {} },
  });
  return {
    link,
    inject: (protocol, bytes) => wire.injectInbound(0, ethernetFrame(macA, peer, protocol, bytes)),
    injectRaw: (bytes) => wire.injectInbound(0, bytes),
    takeWritten: () =>
      wire.readAll().map(({ pkt }) => {
        const f = parseEthernetFrame(pkt.bytes())!;
        return { protocol: f.type, bytes: f.payload };
      }),
  };
});

runLinkConformance("ethernet over sniffer over frame channel", () => {
  const macA = parseMACAddress("02:00:00:00:00:0a");
  const peer = parseMACAddress("02:00:00:00:00:99");
  const wire = new ChannelEndpoint({ mtu: 1500, mode: "frame", linkAddress: macA });
  const link = new EthernetEndpoint(new SnifferEndpoint(wire, { clock: new ManualClock(), log: () => {} }));
  return {
    link,
    inject: (protocol, bytes) => wire.injectInbound(0, ethernetFrame(macA, peer, protocol, bytes)),
    injectRaw: (bytes) => wire.injectInbound(0, bytes),
    takeWritten: () =>
      wire.readAll().map(({ pkt }) => {
        const f = parseEthernetFrame(pkt.bytes())!;
        return { protocol: f.type, bytes: f.payload };
      }),
  };
});

// ---- Packet builders (RFC 791, 8200, 9293, 768, 792, 826), checksums included so tcpdump is happy.

function sum16(b: Uint8Array, initial = 0): number {
  let s = initial;
  for (let i = 0; i + 1 < b.length; i += 2) s += (b[i]! << 8) | b[i + 1]!;
  if (b.length & 1) s += b[b.length - 1]! << 8;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}

function ip(text: string): Uint8Array {
  if (!text.includes(":")) return Uint8Array.from(text.split(".").map(Number));
  const b = new Uint8Array(16);
  const [head, tail] = text.split("::") as [string, string | undefined];
  const h = head ? head.split(":") : [];
  const t = tail ? tail.split(":") : [];
  h.forEach((g, i) => {
    b[2 * i] = Number.parseInt(g, 16) >> 8;
    b[2 * i + 1] = Number.parseInt(g, 16) & 255;
  });
  t.forEach((g, i) => {
    const at = 16 - 2 * (t.length - i);
    b[at] = Number.parseInt(g, 16) >> 8;
    b[at + 1] = Number.parseInt(g, 16) & 255;
  });
  return b;
}

function transportChecksum(
  proto: number,
  src: Uint8Array,
  dst: Uint8Array,
  seg: Uint8Array,
  at: number,
): void {
  const pseudo = new Uint8Array(src.length * 2 + 4);
  pseudo.set(src, 0);
  pseudo.set(dst, src.length);
  pseudo[src.length * 2 + 1] = proto;
  pseudo[src.length * 2 + 2] = seg.length >> 8;
  pseudo[src.length * 2 + 3] = seg.length & 255;
  const x = ~sum16(seg, sum16(pseudo)) & 0xffff;
  seg[at] = x >> 8;
  seg[at + 1] = x & 255;
}

interface TcpSpec {
  sport: number;
  dport: number;
  seq: number;
  ack: number;
  flags: number;
  win: number;
  options?: number[];
  payload?: Uint8Array;
}

function tcp(src: Uint8Array, dst: Uint8Array, s: TcpSpec): Uint8Array {
  const opts = s.options ?? [];
  const hl = 20 + opts.length;
  const payload = s.payload ?? new Uint8Array(0);
  const b = new Uint8Array(hl + payload.length);
  const dv = new DataView(b.buffer);
  dv.setUint16(0, s.sport);
  dv.setUint16(2, s.dport);
  dv.setUint32(4, s.seq);
  dv.setUint32(8, s.ack);
  b[12] = (hl / 4) << 4;
  b[13] = s.flags;
  dv.setUint16(14, s.win);
  b.set(opts, 20);
  b.set(payload, hl);
  transportChecksum(6, src, dst, b, 16);
  return b;
}

function udp(
  src: Uint8Array,
  dst: Uint8Array,
  sport: number,
  dport: number,
  payload: Uint8Array,
): Uint8Array {
  const b = new Uint8Array(8 + payload.length);
  const dv = new DataView(b.buffer);
  dv.setUint16(0, sport);
  dv.setUint16(2, dport);
  dv.setUint16(4, b.length);
  b.set(payload, 8);
  transportChecksum(17, src, dst, b, 6);
  return b;
}

function icmpEcho(type: number, ident: number, seq: number): Uint8Array {
  const b = Uint8Array.of(type, 0, 0, 0, ident >> 8, ident & 255, seq >> 8, seq & 255, 1, 2, 3, 4);
  const x = ~sum16(b) & 0xffff;
  b[2] = x >> 8;
  b[3] = x & 255;
  return b;
}

function ipv4(
  proto: number,
  src: string,
  dst: string,
  payload: Uint8Array,
  id = 1,
  fragWord = 0,
): Uint8Array {
  const b = new Uint8Array(20 + payload.length);
  const dv = new DataView(b.buffer);
  b[0] = 0x45;
  dv.setUint16(2, b.length);
  dv.setUint16(4, id);
  dv.setUint16(6, fragWord);
  b[8] = 64;
  b[9] = proto;
  b.set(ip(src), 12);
  b.set(ip(dst), 16);
  dv.setUint16(10, ~sum16(b.subarray(0, 20)) & 0xffff);
  b.set(payload, 20);
  return b;
}

function ipv6(next: number, src: string, dst: string, payload: Uint8Array): Uint8Array {
  const b = new Uint8Array(40 + payload.length);
  b[0] = 0x60;
  new DataView(b.buffer).setUint16(4, payload.length);
  b[6] = next;
  b[7] = 64;
  b.set(ip(src), 8);
  b.set(ip(dst), 24);
  b.set(payload, 40);
  return b;
}

function arpRequest(senderMac: string, senderIp: string, targetIp: string): Uint8Array {
  const b = new Uint8Array(28);
  b.set([0, 1, 8, 0, 6, 4, 0, 1]);
  b.set(parseMACAddress(senderMac).bytes, 8);
  b.set(ip(senderIp), 14);
  b.set(ip(targetIp), 24);
  return b;
}

const A = "198.18.0.1";
const B = "198.18.0.2";
const SYN = 0x02;
const ACK = 0x10;
const PSH = 0x08;
const FIN = 0x01;
const MSS_1460 = [2, 4, 0x05, 0xb4];

function synPacket(): Uint8Array {
  return ipv4(
    6,
    A,
    B,
    tcp(ip(A), ip(B), {
      sport: 80,
      dport: 1234,
      seq: 1000,
      ack: 0,
      flags: SYN,
      win: 65535,
      options: MSS_1460,
    }),
    0x1a2b,
  );
}

function out(protocol: number, bytes: Uint8Array, headroom = 0): PacketBuffer {
  const p = PacketBuffer.withPayload(headroom, bytes);
  p.networkProtocol = protocol;
  return p;
}

describe("packet log lines", () => {
  test("TCP over IPv4, with flags, numbers and options", () => {
    expect(formatPacket("send", IPV4_PROTOCOL_NUMBER, synPacket())).toMatch(
      /^send tcp 198\.18\.0\.1:80 -> 198\.18\.0\.2:1234 len:0 id:1a2b flags:S seq:1000 ack:0 win:65535 xsum:0x[0-9a-f]{4} opts:\[mss 1460\]$/,
    );
    const data = ipv4(
      6,
      B,
      A,
      tcp(ip(B), ip(A), {
        sport: 1234,
        dport: 80,
        seq: 1,
        ack: 1001,
        flags: PSH | ACK,
        win: 502,
        payload: new Uint8Array(5),
      }),
      7,
    );
    expect(formatPacket("recv", IPV4_PROTOCOL_NUMBER, data)).toMatch(
      /^recv tcp 198\.18\.0\.2:1234 -> 198\.18\.0\.1:80 len:5 id:0007 flags:PA seq:1 ack:1001 win:502 xsum:0x[0-9a-f]{4}$/,
    );
  });

  test("UDP, ICMP echo and ARP", () => {
    const u = ipv4(17, A, B, udp(ip(A), ip(B), 5353, 53, new Uint8Array(12)), 2);
    expect(formatPacket("send", IPV4_PROTOCOL_NUMBER, u)).toMatch(
      /^send udp 198\.18\.0\.1:5353 -> 198\.18\.0\.2:53 len:12 id:0002 xsum:0x[0-9a-f]{4}$/,
    );
    expect(formatPacket("recv", IPV4_PROTOCOL_NUMBER, ipv4(1, B, A, icmpEcho(8, 1, 1), 3))).toBe(
      "recv icmp 198.18.0.2 -> 198.18.0.1 echo request len:12 id:0003 code:0",
    );
    expect(formatPacket("send", ARP_PROTOCOL_NUMBER, arpRequest("02:00:00:00:00:0a", A, B))).toBe(
      "send arp 198.18.0.1 (02:00:00:00:00:0a) -> 198.18.0.2 (00:00:00:00:00:00) request valid:true",
    );
  });

  test("IPv6, fragments, and protocols it does not know", () => {
    const v6 = ipv6(
      6,
      "fd00::1",
      "fd00::2",
      tcp(ip("fd00::1"), ip("fd00::2"), { sport: 1, dport: 2, seq: 3, ack: 4, flags: FIN | ACK, win: 5 }),
    );
    expect(formatPacket("send", IPV6_PROTOCOL_NUMBER, v6)).toMatch(
      /^send tcp fd00::1:1 -> fd00::2:2 len:0 id:0000 flags:FA seq:3 ack:4 win:5 xsum:0x[0-9a-f]{4}$/,
    );
    const ns = ipv6(58, "fe80::1", "ff02::1:ff00:2", Uint8Array.of(135, 0, 0, 0, 0, 0, 0, 0));
    expect(formatPacket("recv", 0, ns)).toBe(
      "recv icmpv6 fe80::1 -> ff02::1:ff00:2 neighbor solicitation len:8 id:0000 code:0",
    );
    // Second fragment: offset 8 bytes (1 unit), no transport header to read.
    const frag = ipv4(17, A, B, new Uint8Array(16), 9, 1);
    expect(formatPacket("recv", IPV4_PROTOCOL_NUMBER, frag)).toBe(
      "recv udp 198.18.0.1:0 -> 198.18.0.2:0 len:16 id:0009 fragment",
    );
    expect(formatPacket("send", 0x88cc, new Uint8Array(10))).toBe(
      "send unknown network protocol: 0x88cc len:10",
    );
    expect(formatPacket("send", IPV4_PROTOCOL_NUMBER, ipv4(132, A, B, new Uint8Array(4)))).toBe(
      "send ipv4 198.18.0.1 -> 198.18.0.2 unknown transport protocol: 132 len:4",
    );
  });

  test("whole Ethernet frames are read through their EtherType", () => {
    const f = ethernetFrame(
      parseMACAddress("02:00:00:00:00:0b"),
      parseMACAddress("02:00:00:00:00:0a"),
      0x0800,
      synPacket(),
    );
    expect(formatPacket("send", 0, f, true)).toStartWith("send tcp 198.18.0.1:80 -> 198.18.0.2:1234 len:0");
    expect(formatPacket("recv", 0, new Uint8Array(5), true, "nic1 ")).toBe(
      "nic1 recv ethernet malformed len:5",
    );
  });

  test("truncated packets say malformed instead of throwing", () => {
    const syn = synPacket();
    for (let n = 0; n < syn.length; n++) {
      const line = formatPacket("recv", IPV4_PROTOCOL_NUMBER, syn.subarray(0, n));
      expect(line).toStartWith("recv ");
    }
    expect(formatPacket("recv", IPV4_PROTOCOL_NUMBER, syn.subarray(0, 30))).toBe(
      "recv tcp 198.18.0.1 -> 198.18.0.2 malformed len:10 id:1a2b",
    );
    expect(formatPacket("recv", IPV4_PROTOCOL_NUMBER, new Uint8Array(3))).toBe("recv ipv4 malformed len:3");
    const badOpt = ipv4(
      6,
      A,
      B,
      tcp(ip(A), ip(B), { sport: 1, dport: 2, seq: 0, ack: 0, flags: SYN, win: 0, options: [2, 40, 0, 0] }),
    );
    expect(formatPacket("send", IPV4_PROTOCOL_NUMBER, badOpt)).toEndWith("opts:[malformed]");
  });

  test("random bytes under any protocol never throw (fast-check)", () => {
    const protocols = [0, IPV4_PROTOCOL_NUMBER, IPV6_PROTOCOL_NUMBER, ARP_PROTOCOL_NUMBER, 0x1234];
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 200 }),
        fc.constantFrom(...protocols),
        fc.boolean(),
        (bytes, protocol, frame) => {
          const line = formatPacket("recv", protocol, bytes, frame);
          return typeof line === "string" && line.startsWith("recv ");
        },
      ),
      { seed: 7, numRuns: 2000 },
    );
  });

  test("valid packets with random bytes changed never throw (fast-check)", () => {
    const seeds = [
      synPacket(),
      ipv6(
        6,
        "fd00::1",
        "fd00::2",
        tcp(ip("fd00::1"), ip("fd00::2"), {
          sport: 1,
          dport: 2,
          seq: 3,
          ack: 4,
          flags: SYN,
          win: 5,
          options: [1, 1, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0],
        }),
      ),
      ipv6(
        0,
        "fd00::1",
        "fd00::2",
        Uint8Array.of(44, 0, 0, 0, 0, 0, 0, 0, 17, 0, 0, 1, 0, 0, 0, 9, 1, 2, 3, 4, 0, 8, 0, 0),
      ),
      ipv4(17, A, B, udp(ip(A), ip(B), 1, 2, new Uint8Array(3))),
    ];
    fc.assert(
      fc.property(
        fc.constantFrom(...seeds),
        fc.array(fc.tuple(fc.nat(100), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }),
        (seed, edits) => {
          const b = seed.slice();
          for (const [at, v] of edits) if (at < b.length) b[at] = v;
          return formatPacket("send", 0, b).startsWith("send ");
        },
      ),
      { seed: 11, numRuns: 2000 },
    );
  });
});

describe("SnifferEndpoint", () => {
  test("logs one line per packet each way and passes packets through unchanged", () => {
    const wire = new ChannelEndpoint({ mtu: 1500 });
    const lines: string[] = [];
    const s = new SnifferEndpoint(wire, {
      clock: new ManualClock(),
      log: (l) => lines.push(l),
      prefix: "eth0 ",
    });
    const got: Uint8Array[] = [];
    s.attach({ deliverNetworkPacket: (_p, pkt) => got.push(pkt.bytes()) });
    const syn = synPacket();
    expect(s.writePackets([out(IPV4_PROTOCOL_NUMBER, syn)])).toBe(1);
    wire.injectInbound(IPV4_PROTOCOL_NUMBER, ipv4(1, B, A, icmpEcho(0, 1, 1), 4));
    expect(wire.read()!.pkt.bytes()).toEqual(syn);
    expect(got.length).toBe(1);
    expect(lines.length).toBe(2);
    expect(lines[0]).toStartWith("eth0 send tcp 198.18.0.1:80 -> 198.18.0.2:1234");
    expect(lines[1]).toBe("eth0 recv icmp 198.18.0.2 -> 198.18.0.1 echo reply len:12 id:0004 code:0");
    expect(s.stats).toEqual({ sent: 1, received: 1 });
  });

  test("an IP-mode link is captured as LINKTYPE_RAW with clock timestamps", () => {
    const clock = new ManualClock(0, 1_700_000_000_000);
    const chunks: Uint8Array[] = [];
    const wire = new ChannelEndpoint({ mtu: 1500 });
    const s = new SnifferEndpoint(wire, { clock, pcap: { write: (b) => chunks.push(b) } });
    s.attach({ deliverNetworkPacket: () => {} });
    expect(s.linkType).toBe(LINKTYPE_RAW);
    const syn = synPacket();
    clock.advance(1500.25);
    s.writePackets([out(IPV4_PROTOCOL_NUMBER, syn)]);
    clock.advance(1);
    const echo = ipv4(1, B, A, icmpEcho(0, 1, 1));
    wire.injectInbound(IPV4_PROTOCOL_NUMBER, echo);
    const file = concat(chunks);
    expect(Array.from(file.subarray(0, 4))).toEqual([0xd4, 0xc3, 0xb2, 0xa1]);
    const cap = readPcap(file)!;
    expect(cap.linkType).toBe(LINKTYPE_RAW);
    expect(cap.snaplen).toBe(65535);
    expect(cap.records.map((r) => [r.wallMs, r.originalLength])).toEqual([
      [1_700_000_001_500.25, syn.length],
      [1_700_000_001_501.25, echo.length],
    ]);
    expect(cap.records[0]!.data).toEqual(syn);
    expect(cap.records[1]!.data).toEqual(echo);
  });

  test("snaplen cuts captured bytes but keeps the original length", () => {
    const chunks: Uint8Array[] = [];
    const s = new SnifferEndpoint(new ChannelEndpoint({ mtu: 1500 }), {
      clock: new ManualClock(),
      pcap: { write: (b) => chunks.push(b) },
      snaplen: 40,
    });
    const syn = synPacket();
    s.writePackets([out(IPV4_PROTOCOL_NUMBER, syn)]);
    const rec = readPcap(concat(chunks))!.records[0]!;
    expect(rec.data).toEqual(syn.subarray(0, 40));
    expect(rec.originalLength).toBe(syn.length);
  });

  test("over a frame channel the frames are captured as they are (LINKTYPE_ETHERNET)", () => {
    const macA = parseMACAddress("02:00:00:00:00:0a");
    const wire = new ChannelEndpoint({ mtu: 1500, mode: "frame", linkAddress: macA });
    const chunks: Uint8Array[] = [];
    const lines: string[] = [];
    const s = new SnifferEndpoint(wire, {
      clock: new ManualClock(),
      pcap: { write: (b) => chunks.push(b) },
      log: (l) => lines.push(l),
    });
    expect(s.carriesFrames).toBe(true);
    const eth = new EthernetEndpoint(s);
    eth.attach({ deliverNetworkPacket: () => {} });
    const p = out(IPV4_PROTOCOL_NUMBER, synPacket(), 14);
    p.linkDst = parseMACAddress("02:00:00:00:00:0b");
    eth.writePackets([p]);
    const frame = wire.read()!.pkt.bytes();
    const cap = readPcap(concat(chunks))!;
    expect(cap.linkType).toBe(LINKTYPE_ETHERNET);
    expect(cap.records[0]!.data).toEqual(frame);
    expect(lines[0]).toStartWith("send tcp 198.18.0.1:80 -> 198.18.0.2:1234");
  });

  test("over an Ethernet link, outbound frames get the header that link writes; inbound keep theirs", () => {
    const macA = parseMACAddress("02:00:00:00:00:0a");
    const macB = parseMACAddress("02:00:00:00:00:0b");
    const wire = new ChannelEndpoint({ mtu: 1500, mode: "frame", linkAddress: macA });
    const chunks: Uint8Array[] = [];
    const s = new SnifferEndpoint(new EthernetEndpoint(wire), {
      clock: new ManualClock(),
      pcap: { write: (b) => chunks.push(b) },
    });
    s.attach({ deliverNetworkPacket: () => {} });
    expect(s.linkType).toBe(LINKTYPE_ETHERNET);
    const p = out(IPV4_PROTOCOL_NUMBER, synPacket(), s.maxHeaderLength);
    p.linkDst = macB;
    s.writePackets([p, out(ARP_PROTOCOL_NUMBER, arpRequest("02:00:00:00:00:0a", A, B), 14)]);
    const sent = wire.readAll().map((i) => i.pkt.bytes().slice());
    const inbound = ethernetFrame(macA, macB, IPV4_PROTOCOL_NUMBER, ipv4(1, B, A, icmpEcho(0, 1, 1)));
    wire.injectInbound(0, inbound.slice());
    const cap = readPcap(concat(chunks))!;
    expect(cap.records.map((r) => r.data)).toEqual([sent[0]!, sent[1]!, inbound]);
  });
});

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

const tcpdump = spawnSync("tcpdump", ["--version"], { encoding: "utf8" });
const hasTcpdump = tcpdump.status === 0;
const dir = mkdtempSync(join(tmpdir(), "netstack-sniffer-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function tcpdumpRead(file: string, extra: string[] = []): string {
  if (!hasTcpdump) throw new Error("tcpdump is missing: apt-get install tcpdump (.ci/run installs it)");
  const r = spawnSync("tcpdump", ["-nn", "-tt", ...extra, "-r", file], { encoding: "utf8" });
  expect(r.status).toBe(0);
  return r.stdout;
}

describe("pcap files open in tcpdump", () => {
  // tcpdump comes from the distribution (apt-get install tcpdump); .ci/run installs it.
  test("a raw-IP capture shows the handshake, a datagram and a ping", () => {
    const clock = new ManualClock(0, 1_700_000_000_000);
    const chunks: Uint8Array[] = [];
    const wire = new ChannelEndpoint({ mtu: 1500 });
    const s = new SnifferEndpoint(wire, { clock, pcap: { write: (b) => chunks.push(b) } });
    s.attach({ deliverNetworkPacket: () => {} });
    s.writePackets([out(IPV4_PROTOCOL_NUMBER, synPacket())]);
    clock.advance(1);
    wire.injectInbound(
      IPV4_PROTOCOL_NUMBER,
      ipv4(
        6,
        B,
        A,
        tcp(ip(B), ip(A), {
          sport: 1234,
          dport: 80,
          seq: 5000,
          ack: 1001,
          flags: SYN | ACK,
          win: 64240,
          options: MSS_1460,
        }),
      ),
    );
    clock.advance(1);
    s.writePackets([
      out(
        IPV4_PROTOCOL_NUMBER,
        ipv4(17, A, B, udp(ip(A), ip(B), 4000, 7, new TextEncoder().encode("hello"))),
      ),
    ]);
    s.writePackets([out(IPV6_PROTOCOL_NUMBER, ipv6(58, "fd00::1", "fd00::2", icmpv6Echo()))]);
    const file = join(dir, "raw.pcap");
    writeFileSync(file, concat(chunks));
    const text = tcpdumpRead(file);
    const lines = text.trim().split("\n");
    expect(lines.length).toBe(4);
    expect(lines[0]).toStartWith(
      "1700000000.000000 IP 198.18.0.1.80 > 198.18.0.2.1234: Flags [S], seq 1000, win 65535, options [mss 1460]",
    );
    expect(lines[1]).toStartWith(
      "1700000000.001000 IP 198.18.0.2.1234 > 198.18.0.1.80: Flags [S.], seq 5000, ack 1001",
    );
    expect(lines[2]).toContain("IP 198.18.0.1.4000 > 198.18.0.2.7: UDP, length 5");
    expect(lines[3]).toContain("IP6 fd00::1 > fd00::2: ICMP6, echo request");
  });

  test("an Ethernet capture shows MAC addresses and ARP", () => {
    const macA = parseMACAddress("02:00:00:00:00:0a");
    const wire = new ChannelEndpoint({ mtu: 1500, mode: "frame", linkAddress: macA });
    const chunks: Uint8Array[] = [];
    const s = new SnifferEndpoint(new EthernetEndpoint(wire), {
      clock: new ManualClock(),
      pcap: { write: (b) => chunks.push(b) },
    });
    s.attach({ deliverNetworkPacket: () => {} });
    s.writePackets([out(ARP_PROTOCOL_NUMBER, arpRequest("02:00:00:00:00:0a", A, B), 14)]);
    const p = out(IPV4_PROTOCOL_NUMBER, synPacket(), 14);
    p.linkDst = parseMACAddress("02:00:00:00:00:0b");
    s.writePackets([p]);
    const file = join(dir, "eth.pcap");
    writeFileSync(file, concat(chunks));
    const lines = tcpdumpRead(file, ["-e"]).trim().split("\n");
    expect(lines.length).toBe(2);
    expect(lines[0]).toContain("02:00:00:00:00:0a > ff:ff:ff:ff:ff:ff, ethertype ARP (0x0806)");
    expect(lines[0]).toContain("Request who-has 198.18.0.2 tell 198.18.0.1");
    expect(lines[1]).toContain("02:00:00:00:00:0a > 02:00:00:00:00:0b, ethertype IPv4 (0x0800)");
    expect(lines[1]).toContain("198.18.0.1.80 > 198.18.0.2.1234: Flags [S]");
  });
});

function icmpv6Echo(): Uint8Array {
  const body = Uint8Array.of(128, 0, 0, 0, 0, 1, 0, 1);
  transportChecksum(58, ip("fd00::1"), ip("fd00::2"), body, 2);
  return body;
}
