/**
 * Issue 10, who owns packet bytes. Outbound: TCP builds its next segment in
 * the buffer of the last one only when the link declared `synchronousWrite`
 * and the NIC marked the packet `consumedByLink`; a link that keeps packets (a
 * channel), or a packet kept on the way (in the neighbor queue while ARP
 * resolves), never sees its buffer reused. Inbound: TCP keeps a large
 * segment's bytes instead of copying them only when the link set
 * `dataKeepable`, and only while little is queued.
 */
import { describe, expect, test } from "bun:test";
import { PacketBuffer } from "../../buffer/packet-buffer.ts";
import { ARP_REPLY, ARP_REQUEST, ArpHeader, encodeArp } from "../../header/arp.ts";
import { checksum, finishChecksum } from "../../header/checksum.ts";
import { ChannelEndpoint } from "../../link/channel/channel.ts";
import { EthernetEndpoint } from "../../link/ethernet/ethernet.ts";
import type { LinkEndpoint, NetworkDispatcher } from "../../link/link-endpoint.ts";
import { LinkCapability } from "../../link/link-endpoint.ts";
import { ethernetFrame } from "../../link/testing/frames.ts";
import { newArpProtocol } from "../../network/arp/arp.ts";
import { newIpv4Protocol } from "../../network/ipv4/ipv4.ts";
import { Stack } from "../../stack/stack.ts";
import { Address } from "../../tcpip/address.ts";
import { ManualClock } from "../../tcpip/clock.ts";
import { ErrConnectStarted, ErrWouldBlock } from "../../tcpip/errors.ts";
import { LinkAddress } from "../../tcpip/link-address.ts";
import { ARP_PROTOCOL_NUMBER, IPV4_PROTOCOL_NUMBER, TCP_PROTOCOL_NUMBER } from "../../tcpip/protocols.ts";
import { SeededRandom } from "../../tcpip/random.ts";
import { Queue } from "../../waiter/waiter.ts";
import { addV4 } from "../udp/testing.ts";
import type { TcpEndpoint } from "./endpoint.ts";
import { TcpProtocol } from "./protocol.ts";
import { bytes, drain } from "./testing/pair.ts";

/** A link that copies each packet during `writePackets` and keeps no reference (as the fdbased link writes). */
class CopyingLink implements LinkEndpoint {
  readonly capabilities: number;
  readonly gsoMaxSize: number;
  readonly maxHeaderLength = 0;
  readonly linkAddress: LinkAddress;
  readonly synchronousWrite = true;
  readonly carriesFrames: boolean;
  dispatcher: NetworkDispatcher | undefined;
  /** Copies of the packets written, with their network protocol and GSO request. */
  readonly sent: { protocol: number; bytes: Uint8Array; gso: PacketBuffer["gso"] }[] = [];
  /** Every distinct array a written packet lived in. */
  readonly arrays = new Set<Uint8Array>();
  writes = 0;

  constructor(
    readonly mtu: number,
    opts: { frames?: boolean; mac?: LinkAddress; gso?: boolean } = {},
  ) {
    this.carriesFrames = opts.frames ?? false;
    this.linkAddress = opts.mac ?? LinkAddress.EMPTY;
    this.capabilities = opts.gso ? LinkCapability.HardwareGSO : 0;
    this.gsoMaxSize = opts.gso ? 65535 : 0;
  }
  attach(d: NetworkDispatcher | undefined): void {
    this.dispatcher = d;
  }
  isAttached(): boolean {
    return this.dispatcher !== undefined;
  }
  writePackets(pkts: readonly PacketBuffer[]): number {
    for (const p of pkts) {
      this.writes++;
      this.arrays.add(p.data);
      this.sent.push({ protocol: p.networkProtocol, bytes: p.bytes().slice(), gso: p.gso && { ...p.gso } });
    }
    return pkts.length;
  }
}

const PEER = Address.parse("198.18.0.2");

function mkStack(seed: number, clock: ManualClock, arp = false, rcvBuf = 0): Stack {
  return new Stack({
    networkProtocols: arp ? [newIpv4Protocol(), newArpProtocol()] : [newIpv4Protocol()],
    transportProtocols: [
      TcpProtocol.factory(
        rcvBuf > 0 ? { receiveBufferSize: { min: 4096, default: rcvBuf, max: rcvBuf } } : {},
      ),
    ],
    clock,
    random: new SeededRandom(seed),
  });
}

function open(s: Stack): TcpEndpoint {
  return s.newEndpoint(TCP_PROTOCOL_NUMBER, IPV4_PROTOCOL_NUMBER, new Queue()) as unknown as TcpEndpoint;
}

/** IPv4 header and TCP checksums of a copied packet both verify. */
function checksumsOk(b: Uint8Array): boolean {
  const ihl = (b[0]! & 0x0f) * 4;
  if (finishChecksum(checksum(b, 0, ihl)) !== 0) return false;
  const len = b.length - ihl;
  const pseudo = checksum(b, 12, 8, TCP_PROTOCOL_NUMBER + len);
  return finishChecksum(checksum(b, ihl, len, pseudo)) === 0;
}

/**
 * Connects a client on `a` to a listener on `b` (at `b4`, port 7), writes `data` as fast as the send
 * buffer takes it, with `run()` moving packets between the links after each step, and returns what the
 * server read, in order.
 */
function sendAll(
  a: Stack,
  b: Stack,
  b4: Address,
  run: () => void,
  clock: ManualClock,
  data: Uint8Array,
): Uint8Array {
  const l = open(b);
  l.bind({ port: 7 });
  l.listen(8);
  const client = open(a);
  expect(() => client.connect({ addr: b4, port: 7 })).toThrow(ErrConnectStarted);
  run();
  const server = l.accept().endpoint as TcpEndpoint;
  const parts: Uint8Array[] = [];
  let n = 0;
  let off = 0;
  for (let i = 0; i < 100_000 && n < data.length; i++) {
    if (off < data.length) {
      try {
        off += client.write(data.subarray(off));
      } catch (e) {
        if (!(e instanceof ErrWouldBlock)) throw e;
      }
    }
    run();
    const d = drain(server);
    parts.push(d);
    n += d.length;
    clock.advance(1);
  }
  const got = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    got.set(p, o);
    o += p.length;
  }
  return got;
}

/** Client 198.18.0.1 on `clientLink` sends `data` to a server at 198.18.0.2 on a channel; returns what arrived. */
function transfer(
  clientLink: LinkEndpoint,
  read: () => Uint8Array[],
  data: Uint8Array,
): { got: Uint8Array; clientSegments: Uint8Array[] } {
  const clock = new ManualClock();
  const a = mkStack(1, clock);
  const b = mkStack(2, clock);
  const lb = new ChannelEndpoint({ mtu: 1500, queueSize: 1 << 16 });
  a.createNIC(1, clientLink);
  b.createNIC(1, lb);
  addV4(a, 1, "198.18.0.1/24");
  const b4 = addV4(b, 1, "198.18.0.2/24");
  const clientSegments: Uint8Array[] = [];
  const run = () => {
    for (let round = 0; round < 1000; round++) {
      const out = read();
      for (const p of out) {
        clientSegments.push(p);
        (lb as ChannelEndpoint).injectInbound(IPV4_PROTOCOL_NUMBER, p.slice());
      }
      let back = 0;
      for (let info = lb.read(); info; info = lb.read()) {
        back++;
        (clientLink as unknown as { dispatcher: NetworkDispatcher }).dispatcher.deliverNetworkPacket(
          IPV4_PROTOCOL_NUMBER,
          PacketBuffer.wrap(info.pkt.bytes().slice()),
        );
      }
      if (out.length === 0 && back === 0) break;
    }
  };
  return { got: sendAll(a, b, b4, run, clock, data), clientSegments };
}

describe("segment buffers reused only when the link keeps nothing (issue 10)", () => {
  test("over a synchronousWrite link TCP writes its segments in a few reused buffers; 1 MB arrives byte-exact", () => {
    const link = new CopyingLink(1500);
    const data = bytes(1 << 20, 11);
    const r = transfer(
      link,
      () => {
        const out = link.sent.map((s) => s.bytes);
        link.sent.length = 0;
        return out;
      },
      data,
    );
    expect(r.got).toEqual(data);
    for (const s of r.clientSegments) expect(checksumsOk(s)).toBe(true);
    expect(link.writes).toBeGreaterThan(700);
    // One buffer per size class in steady state; a few more while a spare grows to the largest segment.
    expect(link.arrays.size).toBeLessThan(32);
  });

  test("GSO super-segments over a synchronousWrite link reuse one large buffer; 8 MB arrive byte-exact", () => {
    const clock = new ManualClock();
    const a = mkStack(9, clock);
    const b = mkStack(10, clock);
    const la = new CopyingLink(1500, { gso: true });
    const lb = new ChannelEndpoint({ mtu: 1500, queueSize: 1 << 16 });
    a.createNIC(1, la);
    b.createNIC(1, lb);
    addV4(a, 1, "198.18.0.1/24");
    const b4 = addV4(b, 1, "198.18.0.2/24");
    let superSegments = 0;
    const run = () => {
      for (let round = 0; round < 1000 && la.sent.length + lb.queued > 0; round++) {
        for (const s of la.sent.splice(0)) {
          // Handed up whole, as GRO would, with its partial checksum.
          const p = PacketBuffer.withPayload(0, s.bytes);
          if (s.gso && s.gso.type !== 0) {
            p.gso = s.gso;
            superSegments++;
          } else expect(checksumsOk(s.bytes)).toBe(true);
          lb.injectInbound(s.protocol, p);
        }
        for (let info = lb.read(); info; info = lb.read())
          la.dispatcher!.deliverNetworkPacket(
            IPV4_PROTOCOL_NUMBER,
            PacketBuffer.wrap(info.pkt.bytes().slice()),
          );
      }
    };
    const data = bytes(8 << 20, 13);
    const got = sendAll(a, b, b4, run, clock, data);
    expect(got).toEqual(data);
    expect(superSegments).toBeGreaterThan(20);
    expect(la.arrays.size).toBeLessThan(40);
  });

  test("over a channel, which keeps packets until read, every segment has its own buffer", () => {
    const ch = new ChannelEndpoint({ mtu: 1500, queueSize: 1 << 16 });
    const arrays = new Set<Uint8Array>();
    let packets = 0;
    const data = bytes(256 << 10, 12);
    const r = transfer(
      ch,
      () => {
        const out: Uint8Array[] = [];
        for (let info = ch.read(); info; info = ch.read()) {
          packets++;
          arrays.add(info.pkt.data);
          expect(info.pkt.consumedByLink).toBe(false);
          out.push(info.pkt.bytes());
        }
        return out;
      },
      data,
    );
    expect(r.got).toEqual(data);
    expect(packets).toBeGreaterThan(150);
    expect(arrays.size).toBe(packets);
  });

  test("a segment held in the neighbor queue while ARP resolves is not reused by the next one (synchronousWrite Ethernet link)", () => {
    const clock = new ManualClock();
    const s = mkStack(3, clock, true);
    const mac = new LinkAddress(Uint8Array.of(2, 0, 0, 0, 0, 1));
    const peerMac = new LinkAddress(Uint8Array.of(2, 0, 0, 0, 0, 2));
    const frames = new CopyingLink(1514, { frames: true, mac });
    // An Ethernet link over a link that copies frames, that declares it keeps nothing (true: it frames in place).
    const eth = new (class extends EthernetEndpoint {
      readonly synchronousWrite = true;
    })(frames);
    s.createNIC(1, eth);
    const local = addV4(s, 1, "198.18.0.1/24");
    const c = open(s);
    expect(() => c.connect({ addr: PEER, port: 7 })).toThrow(ErrConnectStarted);
    // The SYN waits for ARP; the SYN's retransmission (and its ARP retries) come while it still waits.
    clock.advance(1100);
    expect(frames.sent.every((f) => f.protocol === ARP_PROTOCOL_NUMBER)).toBe(true);
    expect(frames.sent.length).toBeGreaterThan(0);
    const request = new ArpHeader(frames.sent[0]!.bytes, 14);
    expect(request.op).toBe(ARP_REQUEST);
    frames.sent.length = 0;
    // The ARP reply: both SYNs leave now, each from its own buffer and intact.
    const arp = new Uint8Array(28);
    encodeArp(arp, 0, {
      op: ARP_REPLY,
      senderHw: peerMac,
      senderIp: PEER,
      targetHw: mac,
      targetIp: local,
    });
    frames.dispatcher!.deliverNetworkPacket(
      0,
      PacketBuffer.wrap(ethernetFrame(mac, peerMac, ARP_PROTOCOL_NUMBER, arp)),
    );
    const syns = frames.sent.filter((f) => f.protocol === IPV4_PROTOCOL_NUMBER);
    expect(syns.length).toBeGreaterThanOrEqual(2);
    for (const f of syns) {
      const ip = f.bytes.subarray(14);
      expect(checksumsOk(ip)).toBe(true);
      expect(ip[20 + 13]! & 0x02).toBe(0x02);
    }
    // Each SYN and each ARP frame was its own array: none was built over a queued one.
    expect(frames.arrays.size).toBe(frames.writes);
  });

  test("the NIC marks packets consumedByLink only for a synchronousWrite link", () => {
    const clock = new ManualClock();
    const s = mkStack(5, clock);
    const ch = new ChannelEndpoint({ mtu: 1500 });
    s.createNIC(1, ch);
    addV4(s, 1, "198.18.0.1/24");
    const c = open(s);
    expect(() => c.connect({ addr: PEER, port: 7 })).toThrow(ErrConnectStarted);
    const info = ch.read();
    expect(info?.pkt.consumedByLink).toBe(false);

    const s2 = mkStack(6, clock);
    let seen: PacketBuffer | undefined;
    const spy = new (class extends CopyingLink {
      override writePackets(pkts: readonly PacketBuffer[]): number {
        seen = pkts[0];
        return super.writePackets(pkts);
      }
    })(1500);
    s2.createNIC(1, spy);
    addV4(s2, 1, "198.18.0.1/24");
    const c2 = open(s2);
    expect(() => c2.connect({ addr: PEER, port: 7 })).toThrow(ErrConnectStarted);
    expect(seen?.consumedByLink).toBe(true);
  });
});

/**
 * Client 198.18.0.1 on a HardwareGSO channel sends `data` to 198.18.0.2; each super-segment reaches the
 * server whole (as GRO hands it up), in an array of its own, marked `dataKeepable` when `keep`. The
 * server reads after every exchange, or only at the end (`readAtEnd`). Returns what arrived, the arrays
 * delivered, and the reads.
 */
function groTransfer(data: Uint8Array, keep: boolean, readAtEnd = false) {
  const clock = new ManualClock();
  const a = mkStack(7, clock);
  // A receive buffer well past the 256 KiB bound on kept bytes.
  const b = mkStack(8, clock, false, 1 << 20);
  const la = new ChannelEndpoint({
    mtu: 1500,
    capabilities: LinkCapability.HardwareGSO,
    gsoMaxSize: 65535,
    queueSize: 1 << 16,
  });
  const lb = new ChannelEndpoint({ mtu: 1500, queueSize: 1 << 16 });
  a.createNIC(1, la);
  b.createNIC(1, lb);
  addV4(a, 1, "198.18.0.1/24");
  const b4 = addV4(b, 1, "198.18.0.2/24");
  const delivered = new Set<ArrayBufferLike>();
  const run = () => {
    for (let round = 0; round < 1000 && la.queued + lb.queued > 0; round++) {
      for (let info = la.read(); info; info = la.read()) {
        const p = PacketBuffer.withPayload(0, info.pkt.bytes().slice());
        const g = info.pkt.gso;
        if (g && g.type !== 0) p.gso = { ...g };
        p.dataKeepable = keep;
        delivered.add(p.data.buffer);
        lb.injectInbound(info.protocol, p);
      }
      for (let info = lb.read(); info; info = lb.read())
        la.injectInbound(info.protocol, info.pkt.bytes().slice());
    }
  };
  const l = open(b);
  l.bind({ port: 7 });
  l.listen(8);
  const client = open(a);
  expect(() => client.connect({ addr: b4, port: 7 })).toThrow(ErrConnectStarted);
  run();
  const server = l.accept().endpoint as TcpEndpoint;
  const reads: Uint8Array[] = [];
  const readAll = () => {
    for (;;) {
      try {
        const d = server.read().data;
        if (d.length === 0) return;
        reads.push(d);
      } catch {
        return;
      }
    }
  };
  let off = 0;
  let queuedKept = 0;
  for (let i = 0; i < 20_000 && off < data.length; i++) {
    try {
      off += client.write(data.subarray(off));
    } catch (e) {
      if (!(e instanceof ErrWouldBlock)) throw e;
    }
    run();
    if (!readAtEnd) readAll();
    clock.advance(1);
  }
  for (let i = 0; i < 50; i++) {
    run();
    clock.advance(10);
  }
  queuedKept = server.rcv.queue.views.filter((v) => delivered.has(v.buffer)).length;
  readAll();
  let n = 0;
  for (const r of reads) n += r.length;
  const got: Uint8Array = new Uint8Array(n);
  n = 0;
  for (const r of reads) {
    got.set(r, n);
    n += r.length;
  }
  return { got, reads, delivered, queuedKept };
}

describe("inbound segment bytes kept only when the link gives them away (issue 10)", () => {
  test("dataKeepable GRO packets: a reader that keeps up gets views of the link's own arrays; 2 MB byte-exact", () => {
    const data = bytes(2 << 20, 21);
    const r = groTransfer(data, true);
    expect(r.got).toEqual(data);
    const kept = r.reads.filter((d) => r.delivered.has(d.buffer)).length;
    expect(kept).toBeGreaterThan(10);
  });

  test("without dataKeepable every byte read is the receiver's own copy", () => {
    const data = bytes(1 << 20, 22);
    const r = groTransfer(data, false);
    expect(r.got).toEqual(data);
    expect(r.reads.filter((d) => r.delivered.has(d.buffer)).length).toBe(0);
  });

  test("a reader that falls behind: past 256 KiB queued, segments are copied again", () => {
    const data = bytes(2 << 20, 23);
    const r = groTransfer(data, true, true);
    // What the 1 MiB receive buffer held when the reader came.
    expect(r.got.length).toBeGreaterThan(512 << 10);
    expect(r.got).toEqual(data.subarray(0, r.got.length));
    // Kept segments are at least 16 KiB each and only start while under 256 KiB is queued.
    expect(r.queuedKept).toBeGreaterThan(0);
    expect(r.queuedKept).toBeLessThanOrEqual(16);
  });
});
