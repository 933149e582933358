import { describe, expect, test } from "bun:test";
import { PacketBuffer } from "../buffer/packet-buffer.ts";
import { checksum, finishChecksum } from "../header/checksum.ts";
import { encodeIpv4 } from "../header/ipv4.ts";
import { ChannelEndpoint } from "../link/channel/channel.ts";
import { Address } from "../tcpip/address.ts";
import { ManualClock } from "../tcpip/clock.ts";
import { IPV4_PROTOCOL_NUMBER, IPV6_PROTOCOL_NUMBER } from "../tcpip/protocols.ts";
import { addr, addV4, newTestStack, twoDualHosts } from "../transport/udp/testing.ts";
import { ping } from "./ping.ts";

const opts = { count: 3, intervalMs: 0, timeoutMs: 1000, size: 56 };

/** Runs `p` to its end, advancing `clock` while it waits on timers. */
async function settle<T>(clock: ManualClock, p: Promise<T>): Promise<T> {
  let done = false;
  void p.finally(() => {
    done = true;
  });
  while (!done) {
    await new Promise((r) => setTimeout(r, 0));
    clock.advance(50);
  }
  return p;
}

/** A stack on an IP-mode channel, answered by `respond`, which returns the echo reply's ICMP message. */
function withResponder(respond: (icmp: Uint8Array) => Uint8Array) {
  const clock = new ManualClock();
  const s = newTestStack(clock, 4);
  const ch = new ChannelEndpoint({ mtu: 1500 });
  s.createNIC(1, ch);
  addV4(s, 1, "198.18.0.1/24");
  ch.onWrite(() => {
    for (let p = ch.read(); p; p = ch.read()) {
      const req = p.pkt.bytes();
      if (req[9] !== 1 || req[20] !== 8) continue;
      const request = req.slice(20);
      request[0] = 0;
      const icmp = respond(request);
      icmp[2] = 0;
      icmp[3] = 0;
      const sum = finishChecksum(checksum(icmp, 0, icmp.length));
      icmp[2] = sum >>> 8;
      icmp[3] = sum & 0xff;
      const reply = new Uint8Array(20 + icmp.length);
      encodeIpv4(reply, 0, {
        totalLength: reply.length,
        ttl: 64,
        protocol: 1,
        src: Address.fromBytes(req, 16, 4),
        dst: Address.fromBytes(req, 12, 4),
      });
      reply.set(icmp, 20);
      queueMicrotask(() => ch.injectInbound(IPV4_PROTOCOL_NUMBER, PacketBuffer.wrap(reply)));
    }
  });
  return { clock, s };
}

describe("ping (RFC 792, RFC 4443 §4)", () => {
  test("a peer answers every request with the data sent, in both families", async () => {
    const { clock, a, b4, b6 } = twoDualHosts();
    for (const to of [b4, b6]) {
      const r = await settle(clock, ping(a, to, opts));
      expect(r.transmitted).toBe(3);
      expect(r.received).toBe(3);
      expect(r.rttMs.length).toBe(3);
      expect(r.replyBytes).toBe(64);
      expect(r.corrupted).toBe(0);
      expect(r.error).toBeUndefined();
    }
  });

  test("replyBytes follows the size asked for", async () => {
    const { clock, a, b4 } = twoDualHosts();
    const r = await settle(clock, ping(a, b4, { ...opts, count: 1, size: 1000 }));
    expect(r.received).toBe(1);
    expect(r.replyBytes).toBe(1008);
  });

  test("a reply whose data differs from the request is received but counted as corrupted", async () => {
    let n = 0;
    const { clock, s } = withResponder((icmp) => {
      // Every second reply comes back with its last data byte changed.
      if (n++ % 2 === 1) icmp[icmp.length - 1]! ^= 0xff;
      return icmp;
    });
    const r = await settle(clock, ping(s, addr("198.18.0.2"), { ...opts, count: 4 }));
    expect(r.received).toBe(4);
    expect(r.corrupted).toBe(2);
  });

  test("a truncated reply is corrupted too", async () => {
    const { clock, s } = withResponder((icmp) => icmp.slice(0, 40));
    const r = await settle(clock, ping(s, addr("198.18.0.2"), { ...opts, count: 1 }));
    expect(r.received).toBe(1);
    expect(r.corrupted).toBe(1);
    expect(r.replyBytes).toBe(40);
  });

  test("no reply: the request times out and counts as lost", async () => {
    const clock = new ManualClock();
    const s = newTestStack(clock, 4);
    s.createNIC(1, new ChannelEndpoint({ mtu: 1500 }));
    addV4(s, 1, "198.18.0.1/24");
    const r = await settle(clock, ping(s, addr("198.18.0.2"), { ...opts, count: 2, timeoutMs: 200 }));
    expect(r.transmitted).toBe(2);
    expect(r.received).toBe(0);
    expect(r.replyBytes).toBeUndefined();
  });

  test("a link-local destination needs the nic option (its scope)", async () => {
    const { clock, a, b } = twoDualHosts();
    // Link-local addresses without a route for fe80::/64: only the scope says which link.
    a.addAddress(1, IPV6_PROTOCOL_NUMBER, addr("fe80::1"), 64);
    b.addAddress(1, IPV6_PROTOCOL_NUMBER, addr("fe80::2"), 64);
    clock.advance(3_000); // duplicate address detection (RFC 4862 §5.4)
    const unscoped = await settle(clock, ping(a, addr("fe80::2"), { ...opts, count: 1 }));
    expect(unscoped.received).toBe(0);
    expect(unscoped.error).toBeDefined();
    const scoped = await settle(clock, ping(a, addr("fe80::2"), { ...opts, count: 2, nic: 1 }));
    expect(scoped.received).toBe(2);
    expect(scoped.corrupted).toBe(0);
    expect(scoped.error).toBeUndefined();
  });
});
