import { describe, expect, test } from "bun:test";
import { ErrInvalidOptionValue, ErrNoLinkAddress, ErrWouldBlock } from "../../tcpip/errors.ts";
import { ICMPV4_PROTOCOL_NUMBER } from "../../tcpip/protocols.ts";
import { addr, echoRequest, endpoint, twoHosts } from "../udp/testing.ts";

describe("ping over Ethernet with ARP", () => {
  test("echo request gets a reply with the same ident, sequence and data", () => {
    const { a, b, bAddr } = twoHosts();
    const { ep, events } = endpoint(a, ICMPV4_PROTOCOL_NUMBER);
    ep.bind({ port: 0x1234 });
    const data = Uint8Array.of(1, 2, 3, 4, 5);
    expect(ep.write(echoRequest(7, data), { to: { addr: bAddr, port: 0 } })).toBe(13);
    const r = ep.read();
    expect(r.from?.addr?.equals(bAddr)).toBe(true);
    expect(r.data[0]).toBe(0);
    expect((r.data[4]! << 8) | r.data[5]!).toBe(0x1234);
    expect((r.data[6]! << 8) | r.data[7]!).toBe(7);
    expect([...r.data.subarray(8)]).toEqual([...data]);
    expect(events.length).toBeGreaterThan(0);
    expect(b.stats.icmp.v4.echoRequest.received).toBe(1);
    expect(b.stats.icmp.v4.echoReply.sent).toBe(1);
    expect(a.stats.arp.requestsSent).toBeGreaterThanOrEqual(1);
    expect(() => ep.read()).toThrow(ErrWouldBlock);
  });

  test("a reply for another ident is not delivered", () => {
    const { a, bAddr } = twoHosts();
    const one = endpoint(a, ICMPV4_PROTOCOL_NUMBER);
    const two = endpoint(a, ICMPV4_PROTOCOL_NUMBER);
    one.ep.bind({ port: 1 });
    two.ep.bind({ port: 2 });
    one.ep.write(echoRequest(1), { to: { addr: bAddr, port: 0 } });
    expect(one.ep.read().data[0]).toBe(0);
    expect(() => two.ep.read()).toThrow(ErrWouldBlock);
  });
});

describe("ping edge cases", () => {
  test("a 3000-byte echo is fragmented both ways at MTU 576", () => {
    const { a, b, bAddr } = twoHosts({ mtu: 576 });
    const { ep } = endpoint(a, ICMPV4_PROTOCOL_NUMBER);
    ep.bind({ port: 5 });
    const data = new Uint8Array(3000).map((_, i) => i & 0xff);
    ep.write(echoRequest(1, data), { to: { addr: bAddr, port: 0 } });
    const r = ep.read();
    expect(r.data.length).toBe(3008);
    expect(Buffer.compare(r.data.subarray(8), data)).toBe(0);
    expect(b.stats.fragments.reassembled).toBe(1);
    expect(a.stats.fragments.reassembled).toBe(1);
  });

  test("only echo requests can be written; the ident is the bound port", () => {
    const { a, bAddr } = twoHosts();
    const { ep } = endpoint(a, ICMPV4_PROTOCOL_NUMBER);
    expect(() => ep.write(echoRequest(1, new Uint8Array(0), 13), { to: { addr: bAddr, port: 0 } })).toThrow(
      ErrInvalidOptionValue,
    );
    expect(() => ep.write(Uint8Array.of(8, 0, 0), { to: { addr: bAddr, port: 0 } })).toThrow(
      ErrInvalidOptionValue,
    );
    ep.write(echoRequest(1), { to: { addr: bAddr, port: 0 } });
    const port = ep.getLocalAddress().port;
    expect(port).toBeGreaterThan(0);
    const r = ep.read();
    expect((r.data[4]! << 8) | r.data[5]!).toBe(port);
  });

  test("a connected ping endpoint learns Host Unreachable when ARP fails", () => {
    const { a, clock } = twoHosts();
    const { ep } = endpoint(a, ICMPV4_PROTOCOL_NUMBER);
    ep.connect({ addr: addr("198.18.0.66"), port: 0 });
    ep.write(echoRequest(1));
    clock.advance(3_000);
    expect(() => ep.read()).toThrow(ErrNoLinkAddress);
  });
});
