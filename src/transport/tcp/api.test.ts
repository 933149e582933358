/** The endpoint API's errors and options (the seed's tcp endpoint semantics), and stack-wide options. */
import { describe, expect, test } from "bun:test";
import { Address } from "../../tcpip/address.ts";
import {
  ErrAlreadyBound,
  ErrAlreadyConnected,
  ErrAlreadyConnecting,
  ErrBadLocalAddress,
  ErrClosedForSend,
  ErrConnectStarted,
  ErrInvalidEndpointState,
  ErrInvalidOptionValue,
  ErrNotConnected,
  ErrPortInUse,
  ErrUnknownProtocolOption,
  ErrWouldBlock,
} from "../../tcpip/errors.ts";
import { ShutdownFlags } from "../../tcpip/protocols.ts";
import { EventErr, EventHUp, EventIn, EventOut } from "../../waiter/waiter.ts";
import { Pair } from "./testing/pair.ts";
import { RawPeer } from "./testing/peer.ts";

describe("endpoint API errors", () => {
  test("before connecting: read, write, shutdown, getRemoteAddress say not connected", () => {
    const p = new RawPeer();
    const { ep } = p.newEndpoint();
    expect(() => ep.read()).toThrow(ErrNotConnected);
    expect(() => ep.write(new Uint8Array(1))).toThrow(ErrNotConnected);
    expect(() => ep.shutdown(ShutdownFlags.Write)).toThrow(ErrNotConnected);
    expect(() => ep.getRemoteAddress()).toThrow(ErrNotConnected);
    expect(() => ep.accept()).toThrow(ErrInvalidEndpointState);
    expect(ep.readiness(EventIn | EventOut | EventErr | EventHUp)).toBe(0);
  });

  test("while connecting: read/write would block, connect again is already connecting", () => {
    const p = new RawPeer();
    const { ep } = p.newEndpoint();
    expect(() => ep.connect({ addr: p.remote, port: 1 })).toThrow(ErrConnectStarted);
    expect(() => ep.read()).toThrow(ErrWouldBlock);
    expect(() => ep.write(new Uint8Array(1))).toThrow(ErrWouldBlock);
    expect(() => ep.connect({ addr: p.remote, port: 1 })).toThrow(ErrAlreadyConnecting);
    expect(() => ep.listen(1)).toThrow(ErrInvalidEndpointState);
    expect(ep.readiness(EventOut)).toBe(0);
  });

  test("connected: connect again is already connected; after shutdown(write) writes fail", () => {
    const p = new RawPeer();
    const { ep } = p.acceptConnection();
    expect(() => ep.connect({ addr: p.remote, port: 1 })).toThrow(ErrAlreadyConnected);
    ep.shutdown(ShutdownFlags.Write);
    expect(() => ep.write(new Uint8Array(1))).toThrow(ErrClosedForSend);
  });

  test("bind: port in use, already bound, address not ours; local address reported", () => {
    const p = new RawPeer();
    const { ep: a } = p.newEndpoint();
    a.bind({ port: 8080 });
    expect(a.getLocalAddress().port).toBe(8080);
    expect(() => a.bind({ port: 8081 })).toThrow(ErrAlreadyBound);
    const { ep: b } = p.newEndpoint();
    expect(() => b.bind({ port: 8080 })).toThrow(ErrPortInUse);
    expect(() => b.bind({ addr: Address.parse("198.18.9.9"), port: 1 })).toThrow(ErrBadLocalAddress);
    b.bind({ port: 0 });
    expect(b.getLocalAddress().port).toBeGreaterThan(0);
  });

  test("socket options: unknown name, bad values, round trips, TCPInfo", () => {
    const p = new RawPeer();
    const { ep } = p.acceptConnection();
    expect(() => ep.setSockOpt("Broadcast", true)).toThrow(ErrUnknownProtocolOption);
    expect(() => ep.setSockOpt("NoDelay", 1)).toThrow(ErrInvalidOptionValue);
    expect(() => ep.setSockOpt("KeepaliveCount", 0)).toThrow(ErrInvalidOptionValue);
    ep.setSockOpt("KeepaliveIdle", 5000);
    expect(ep.getSockOpt("KeepaliveIdle")).toBe(5000);
    ep.setSockOpt("ReceiveBufferSize", 1);
    expect(ep.getSockOpt("ReceiveBufferSize")).toBe(4096);
    expect(ep.getSockOpt("SendQueueSize")).toBe(0);
    const info = ep.getSockOpt("TCPInfo") as { state: string; sndMss: number };
    expect(info.state).toBe("ESTABLISHED");
    expect(info.sndMss).toBe(1448);
    expect(ep.getSockOpt("Error")).toBeUndefined();
  });

  test("V6Only only on IPv6 endpoints, before binding", () => {
    const p4 = new RawPeer();
    expect(() => p4.newEndpoint().ep.setSockOpt("V6Only", true)).toThrow(ErrUnknownProtocolOption);
    const p6 = new RawPeer({ v6: true });
    const { ep } = p6.newEndpoint();
    ep.setSockOpt("V6Only", true);
    ep.bind({ port: 80 });
    expect(() => ep.setSockOpt("V6Only", false)).toThrow(ErrInvalidEndpointState);
  });

  test("readiness follows the connection: writable, readable at EOF, HUP when both sides closed", () => {
    const pair = new Pair();
    const { client, server } = pair.connect();
    expect(client.readiness(EventOut)).toBe(EventOut);
    expect(client.readiness(EventIn)).toBe(0);
    server.close();
    pair.run(20);
    expect(client.readiness(EventIn)).toBe(EventIn);
    expect(client.readiness(EventHUp)).toBe(0);
    client.close();
    pair.run(20);
    expect(client.readiness(EventHUp)).toBe(EventHUp);
  });
});

describe("stack-wide options", () => {
  test("set and read; unknown names and bad values are refused", () => {
    const p = new RawPeer();
    const tcp = p.stack.tcp;
    tcp.setOption("timeWaitMs", 1000);
    expect(tcp.option("timeWaitMs")).toBe(1000);
    tcp.setOption("receiveBufferSize", { min: 1024, default: 8192, max: 65536 });
    expect(tcp.option("receiveBufferSize")).toEqual({ min: 1024, default: 8192, max: 65536 });
    expect(() => tcp.setOption("nope", 1)).toThrow(ErrUnknownProtocolOption);
    expect(() => tcp.setOption("sack", 1)).toThrow(ErrInvalidOptionValue);
    expect(() => tcp.setOption("receiveBufferSize", { min: 10, default: 5, max: 1 })).toThrow(
      ErrInvalidOptionValue,
    );
    expect(() => tcp.setOption("congestionControl", "bbr")).toThrow(ErrInvalidOptionValue);
    // New endpoints take the new defaults.
    expect(p.newEndpoint().ep.getSockOpt("ReceiveBufferSize")).toBe(8192);
  });

  test("timestamps, SACK and window scaling can be turned off stack-wide", () => {
    const p = new RawPeer({ tcp: { timestamps: false, sack: false, windowScaling: false } });
    const { synAck } = p.acceptConnection();
    expect(synAck.options.timestamp).toBe(false);
    expect(synAck.options.sackPermitted).toBe(false);
    expect(synAck.options.windowScale).toBe(-1);
  });
});
