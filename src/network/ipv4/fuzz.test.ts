import { describe, expect, test } from "bun:test";
import { PacketBuffer } from "../../buffer/packet-buffer.ts";
import { checksum, finishChecksum } from "../../header/checksum.ts";
import {
  ARP_PROTOCOL_NUMBER,
  ICMPV4_PROTOCOL_NUMBER,
  IPV4_PROTOCOL_NUMBER,
  UDP_PROTOCOL_NUMBER,
} from "../../tcpip/protocols.ts";
import { SeededRandom } from "../../tcpip/random.ts";
import { echoRequest, endpoint, twoHosts } from "../../transport/udp/testing.ts";

/** Frames seen on the wire while two hosts ping, exchange UDP (some fragmented) and resolve with ARP. */
function corpus() {
  const h = twoHosts({ mtu: 576 });
  const frames: Uint8Array[] = [];
  const sniff = (proto: number, bytes: Uint8Array) => {
    frames.push(Uint8Array.of(proto >> 8, proto & 0xff, ...bytes));
  };
  h.a.addHook("outbound", sniff);
  h.b.addHook("outbound", sniff);
  const srv = endpoint(h.b, UDP_PROTOCOL_NUMBER);
  srv.ep.bind({ port: 7 });
  const cli = endpoint(h.a, UDP_PROTOCOL_NUMBER);
  cli.ep.write(new Uint8Array(1500).fill(5), { to: { addr: h.bAddr, port: 7 } });
  cli.ep.write(Uint8Array.of(1, 2, 3), { to: { addr: h.bAddr, port: 8 } });
  const ping = endpoint(h.a, ICMPV4_PROTOCOL_NUMBER);
  ping.ep.bind({ port: 9 });
  ping.ep.write(echoRequest(1, new Uint8Array(32)), { to: { addr: h.bAddr, port: 0 } });
  return frames;
}

/** Recomputes the IPv4 header checksum so a mutation reaches the code past it. */
function fixIpChecksum(b: Uint8Array): void {
  if (b.length < 20) return;
  const hlen = (b[0]! & 0x0f) * 4;
  if (hlen < 20 || hlen > b.length) return;
  b[10] = 0;
  b[11] = 0;
  const c = finishChecksum(checksum(b, 0, hlen));
  b[10] = c >> 8;
  b[11] = c & 0xff;
}

describe("fuzz: the inbound path", () => {
  test("100,000 random and mutated packets never throw, and the stack still answers ping", () => {
    const seeds = corpus();
    expect(seeds.length).toBeGreaterThan(5);
    const { a, b, bAddr, clock, wire } = twoHosts({ mtu: 576, seed: 77 });
    const rnd = new SeededRandom(2024);
    const nic = b.nic(1)!;
    const interesting = [0, 1, 0x7f, 0x80, 0xff, 0x45, 0x40, 0x46, 0x4f, 8, 17, 6, 1, 0x20, 0x3f];
    for (let i = 0; i < 100_000; i++) {
      const r = rnd.u32();
      let proto: number;
      let bytes: Uint8Array;
      if (r % 10 < 3) {
        // Pure noise of a random length.
        bytes = new Uint8Array(rnd.u32() % 700);
        for (let j = 0; j < bytes.length; j++) bytes[j] = rnd.u32() & 0xff;
        proto = r & 16 ? ARP_PROTOCOL_NUMBER : IPV4_PROTOCOL_NUMBER;
      } else {
        const seed = seeds[rnd.u32() % seeds.length]!;
        proto = (seed[0]! << 8) | seed[1]!;
        bytes = seed.slice(2);
        const flips = 1 + (rnd.u32() % 6);
        for (let k = 0; k < flips; k++) {
          const at = rnd.u32() % Math.max(1, bytes.length);
          bytes[at] = rnd.u32() & 1 ? interesting[rnd.u32() % interesting.length]! : rnd.u32() & 0xff;
        }
        if (rnd.u32() % 4 === 0) bytes = bytes.subarray(0, rnd.u32() % (bytes.length + 1)).slice();
        if (proto === IPV4_PROTOCOL_NUMBER && rnd.u32() % 2 === 0) fixIpChecksum(bytes);
      }
      if (r % 7 === 0) {
        // Whole frames through the Ethernet link, with a header for B or broadcast.
        const frame = new Uint8Array(14 + bytes.length);
        frame.set(r & 32 ? b.nic(1)!.linkAddress.bytes : [255, 255, 255, 255, 255, 255], 0);
        frame.set([2, 0, 0, 0, 0x77, 0x77], 6);
        frame[12] = proto >> 8;
        frame[13] = proto & 0xff;
        frame.set(bytes, 14);
        wire.b.wire.injectInbound(proto, frame);
      } else {
        nic.deliverNetworkPacket(proto, PacketBuffer.wrap(bytes));
      }
      if (i % 5000 === 0) clock.advance(1000);
    }
    expect(b.stats.ip.packetsReceived).toBeGreaterThan(50_000);
    // Poisoned ARP entries heal through DELAY/PROBE/FAILED; give them time, then ping.
    clock.advance(120_000);
    const p = endpoint(a, ICMPV4_PROTOCOL_NUMBER);
    p.ep.bind({ port: 4242 });
    let answered = false;
    for (let attempt = 0; attempt < 4 && !answered; attempt++) {
      p.ep.write(echoRequest(attempt), { to: { addr: bAddr, port: 0 } });
      clock.advance(10_000);
      try {
        answered = p.ep.read().data[0] === 0;
      } catch {
        answered = false;
      }
    }
    expect(answered).toBe(true);
    // A generous limit: 100,000 packets take about a second, more on a loaded CI machine.
  }, 120_000);
});
