import { describe, expect, test } from "bun:test";
import { PacketBuffer } from "../../buffer/packet-buffer.ts";
import { checksum, finishChecksum } from "../../header/checksum.ts";
import { encodeIpv4, Ipv4Header } from "../../header/ipv4.ts";
import { ChannelEndpoint } from "../../link/channel/channel.ts";
import type { Address } from "../../tcpip/address.ts";
import { ManualClock } from "../../tcpip/clock.ts";
import { IPV4_PROTOCOL_NUMBER } from "../../tcpip/protocols.ts";
import { SeededRandom } from "../../tcpip/random.ts";
import { Subnet } from "../../tcpip/subnet.ts";
import { addr, addV4, newTestStack } from "../../transport/udp/testing.ts";

/** A stack on an IP-mode channel: 198.18.0.1/24, peer 198.18.0.2. */
function ipHost() {
  const s = newTestStack(new ManualClock(), 5);
  const ch = new ChannelEndpoint({ mtu: 1500 });
  s.createNIC(1, ch);
  const local = addV4(s, 1, "198.18.0.1/24");
  const peer = addr("198.18.0.2");
  return { s, ch, local, peer };
}

/** An IPv4 echo request from `src` to `dst` carrying `payload`, checksums set. */
function echoRequest(
  src: Address,
  dst: Address,
  ident: number,
  seq: number,
  payload: Uint8Array,
): Uint8Array {
  const b = new Uint8Array(20 + 8 + payload.length);
  encodeIpv4(b, 0, { totalLength: b.length, ttl: 64, protocol: 1, src, dst, id: seq });
  b[20] = 8;
  b[24] = ident >>> 8;
  b[25] = ident & 0xff;
  b[26] = seq >>> 8;
  b[27] = seq & 0xff;
  b.set(payload, 28);
  const sum = finishChecksum(checksum(b, 20, b.length - 20));
  b[22] = sum >>> 8;
  b[23] = sum & 0xff;
  return b;
}

describe("ICMPv4 echo reply (RFC 792)", () => {
  test("is built in the request's own bytes, with the checksum a full recomputation gives", () => {
    const h = ipHost();
    const rnd = new SeededRandom(7);
    for (let i = 0; i < 300; i++) {
      const payload = new Uint8Array(rnd.u32() % 64);
      for (let j = 0; j < payload.length; j++) payload[j] = rnd.u32() & 0xff;
      const req = echoRequest(h.peer, h.local, rnd.u32() & 0xffff, i, payload);
      const icmp = req.slice(20);
      h.ch.injectInbound(IPV4_PROTOCOL_NUMBER, PacketBuffer.wrap(req));
      const out = h.ch.read();
      expect(out).toBeDefined();
      const pkt = out!.pkt;
      // No copy: the reply's IP header took the place of the request's.
      expect(pkt.data).toBe(req);
      expect(pkt.head).toBe(0);
      const b = pkt.bytes();
      const ip = new Ipv4Header(b, 0);
      expect(ip.srcAddress().equals(h.local)).toBe(true);
      expect(ip.dstAddress().equals(h.peer)).toBe(true);
      expect(ip.isChecksumValid()).toBe(true);
      expect(b[20]).toBe(0);
      expect(checksum(b, 20, b.length - 20)).toBe(0xffff);
      // Identifier, sequence number and data come back unchanged.
      expect(b.slice(24)).toEqual(icmp.slice(4));
    }
    expect(h.s.stats.icmp.v4.echoReply.sent).toBe(300);
  });

  test("a request whose checksum the link left partial is answered with a whole one and no offload flags", () => {
    const h = ipHost();
    const req = echoRequest(h.peer, h.local, 1, 1, new Uint8Array([1, 2, 3, 4]));
    req[22] = 0x12; // a partial sum, not the final checksum
    req[23] = 0x34;
    const pkt = PacketBuffer.wrap(req);
    pkt.checksumVerified = true;
    pkt.gso = {
      type: 0,
      size: 0,
      headerLength: 0,
      needsChecksum: true,
      checksumStart: 20,
      checksumOffset: 2,
    };
    h.ch.injectInbound(IPV4_PROTOCOL_NUMBER, pkt);
    const out = h.ch.read()!.pkt;
    expect(out.gso).toBeUndefined();
    expect(out.checksumVerified).toBe(false);
    const b = out.bytes();
    expect(checksum(b, 20, b.length - 20)).toBe(0xffff);
  });

  test("the reply route is found again after routes or addresses change", () => {
    const h = ipHost();
    const ping = (dst: Address, seq: number) => {
      h.ch.injectInbound(
        IPV4_PROTOCOL_NUMBER,
        PacketBuffer.wrap(echoRequest(h.peer, dst, 1, seq, new Uint8Array(8))),
      );
      return h.ch.read()?.pkt.bytes();
    };
    expect(ping(h.local, 1)).toBeDefined();
    expect(h.s.removeRoute({ destination: Subnet.fromPrefix(h.local, 24), nic: 1 })).toBe(1);
    const noRoute = h.s.stats.ip.noRoute;
    expect(ping(h.local, 2)).toBeUndefined();
    expect(h.s.stats.ip.noRoute).toBe(noRoute + 1);
    // A second address: its replies come from it, not from the address of the route found first.
    const second = addV4(h.s, 1, "198.18.0.3/24");
    const b = ping(second, 3);
    expect(b).toBeDefined();
    expect(new Ipv4Header(b!, 0).srcAddress().equals(second)).toBe(true);
    const c = ping(h.local, 4);
    expect(new Ipv4Header(c!, 0).srcAddress().equals(h.local)).toBe(true);
  });
});
