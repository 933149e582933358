import { describe, expect, test } from "bun:test";
import { PacketBuffer } from "../../buffer/packet-buffer.ts";
import { IPV4_PROTOCOL_NUMBER } from "../../tcpip/protocols.ts";
import { ChannelEndpoint } from "../channel/channel.ts";
import { ipv4Packet, runLinkConformance } from "../testing/conformance.ts";
import { WaitableEndpoint } from "./waitable.ts";

runLinkConformance("waitable over channel", () => {
  const wire = new ChannelEndpoint({ mtu: 1500 });
  const link = new WaitableEndpoint(wire);
  return {
    link,
    inject: (protocol, bytes) => wire.injectInbound(protocol, bytes),
    takeWritten: () => wire.readAll().map(({ protocol, pkt }) => ({ protocol, bytes: pkt.bytes() })),
  };
});

function pkt(seq: number): PacketBuffer {
  const p = PacketBuffer.withPayload(0, ipv4Packet(seq));
  p.networkProtocol = IPV4_PROTOCOL_NUMBER;
  return p;
}

describe("WaitableEndpoint", () => {
  test("passes the lower link's properties through", () => {
    const wire = new ChannelEndpoint({ mtu: 1400, gsoMaxSize: 9000, mode: "frame" });
    const w = new WaitableEndpoint(wire);
    expect([w.mtu, w.capabilities, w.maxHeaderLength, w.gsoMaxSize, w.carriesFrames]).toEqual([
      1400,
      0,
      0,
      9000,
      true,
    ]);
    expect(w.linkAddress).toBe(wire.linkAddress);
  });

  test("waitDispatch from outside resolves at once and drops later deliveries, counted", async () => {
    const wire = new ChannelEndpoint({ mtu: 1500 });
    const w = new WaitableEndpoint(wire);
    const got: number[] = [];
    w.attach({ deliverNetworkPacket: (p) => got.push(p) });
    wire.injectInbound(IPV4_PROTOCOL_NUMBER, ipv4Packet(1));
    await w.waitDispatch();
    expect(w.dispatchClosed).toBe(true);
    wire.injectInbound(IPV4_PROTOCOL_NUMBER, ipv4Packet(2));
    expect(got).toEqual([IPV4_PROTOCOL_NUMBER]);
    expect(w.stats.droppedDispatches).toBe(1);
    // Writes are a separate gate and still flow.
    expect(w.writePackets([pkt(3)])).toBe(1);
    expect(wire.queued).toBe(1);
  });

  test("waitDispatch from inside a delivery resolves only after that delivery returns", async () => {
    const wire = new ChannelEndpoint({ mtu: 1500 });
    const w = new WaitableEndpoint(wire);
    const events: string[] = [];
    let done: Promise<void> | undefined;
    w.attach({
      deliverNetworkPacket: () => {
        events.push("deliver:start");
        done = w.waitDispatch().then(() => {
          events.push("resolved");
        });
        // A delivery nested in this one (a looped-back reply) is refused: the gate is shut.
        wire.injectInbound(IPV4_PROTOCOL_NUMBER, ipv4Packet(2));
        events.push("deliver:end");
      },
    });
    wire.injectInbound(IPV4_PROTOCOL_NUMBER, ipv4Packet(1));
    await done;
    expect(events).toEqual(["deliver:start", "deliver:end", "resolved"]);
    expect(w.stats.droppedDispatches).toBe(1);
  });

  test("waitWrite from inside a write resolves after it; later writes are dropped but reported sent", async () => {
    const wire = new ChannelEndpoint({ mtu: 1500 });
    const w = new WaitableEndpoint(wire);
    const events: string[] = [];
    let done: Promise<void> | undefined;
    wire.onWrite(() => {
      if (done) return;
      events.push("lower:write");
      done = w.waitWrite().then(() => {
        events.push("resolved");
      });
    });
    expect(w.writePackets([pkt(1)])).toBe(1);
    events.push("write:returned");
    await done;
    expect(events).toEqual(["lower:write", "write:returned", "resolved"]);
    expect(w.writeClosed).toBe(true);
    // The seed reports dropped writes as sent so the caller neither retries nor counts errors.
    expect(w.writePackets([pkt(2), pkt(3)])).toBe(2);
    expect(w.stats.droppedWrites).toBe(2);
    expect(wire.queued).toBe(1);
  });

  test("an exception in the dispatcher still lets the gate close", async () => {
    const wire = new ChannelEndpoint({ mtu: 1500 });
    const w = new WaitableEndpoint(wire);
    w.attach({
      deliverNetworkPacket: () => {
        throw new Error("boom");
      },
    });
    expect(() => wire.injectInbound(IPV4_PROTOCOL_NUMBER, ipv4Packet(1))).toThrow("boom");
    await w.waitDispatch();
    expect(w.dispatchClosed).toBe(true);
  });

  test("wait and close pass through to the lower link", async () => {
    const wire = new ChannelEndpoint({ mtu: 1500 });
    const w = new WaitableEndpoint(wire);
    await w.wait();
    w.close();
    expect(wire.closed).toBe(true);
  });
});
