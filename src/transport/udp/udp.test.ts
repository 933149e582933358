import { describe, expect, test } from "bun:test";
import { ErrConnectionRefused, ErrDestinationRequired, ErrWouldBlock } from "../../tcpip/errors.ts";
import { UDP_PROTOCOL_NUMBER } from "../../tcpip/protocols.ts";
import { endpoint, twoHosts } from "./testing.ts";

const text = (s: string) => new TextEncoder().encode(s);

describe("UDP between two stacks", () => {
  test("datagrams both ways with sender addresses", () => {
    const { a, b, aAddr, bAddr } = twoHosts();
    const server = endpoint(b, UDP_PROTOCOL_NUMBER);
    server.ep.bind({ port: 7 });
    const client = endpoint(a, UDP_PROTOCOL_NUMBER);
    expect(client.ep.write(text("hello"), { to: { addr: bAddr, port: 7 } })).toBe(5);
    const got = server.ep.read();
    expect(new TextDecoder().decode(got.data)).toBe("hello");
    expect(got.from?.addr?.equals(aAddr)).toBe(true);
    const clientPort = client.ep.getLocalAddress().port;
    expect(got.from?.port).toBe(clientPort);
    server.ep.write(text("world"), { to: got.from! });
    const back = client.ep.read();
    expect(new TextDecoder().decode(back.data)).toBe("world");
    expect(back.from?.port).toBe(7);
    expect(b.stats.udp.packetsReceived).toBe(1);
    expect(a.stats.udp.packetsReceived).toBe(1);
  });

  test("an unconnected endpoint needs a destination", () => {
    const { a } = twoHosts();
    const c = endpoint(a, UDP_PROTOCOL_NUMBER);
    expect(() => c.ep.write(text("x"))).toThrow(ErrDestinationRequired);
  });

  test("ICMP port unreachable reaches a connected sender as ErrConnectionRefused", () => {
    const { a, b, bAddr } = twoHosts();
    const c = endpoint(a, UDP_PROTOCOL_NUMBER);
    c.ep.connect({ addr: bAddr, port: 9999 });
    c.ep.write(text("anyone?"));
    expect(b.stats.udp.unknownPortErrors).toBe(1);
    expect(b.stats.icmp.v4.dstUnreachable.sent).toBe(1);
    expect(a.stats.icmp.v4.dstUnreachable.received).toBe(1);
    expect(() => c.ep.write(text("again"))).toThrow(ErrConnectionRefused);
    // The error is reported once.
    expect(() => c.ep.read()).toThrow(ErrWouldBlock);
  });
});
