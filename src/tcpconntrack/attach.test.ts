import { describe, expect, test } from "bun:test";
import { Address } from "../tcpip/address.ts";
import { ManualClock } from "../tcpip/clock.ts";
import { IPV4_PROTOCOL_NUMBER } from "../tcpip/protocols.ts";
import { attachConnTable, type PacketHookHost } from "./attach.ts";
import { ConnTable, type HookKind } from "./table.ts";
import { udpPacket } from "./testing/packets.ts";

/** A hook host that runs hooks the way the stack does. */
class FakeHost implements PacketHookHost {
  hooks: Record<HookKind, ((p: number, b: Uint8Array, nic: number) => unknown)[]> = {
    inbound: [],
    outbound: [],
    forwarded: [],
  };
  addHook(kind: HookKind, fn: (p: number, b: Uint8Array, nic: number) => unknown) {
    this.hooks[kind].push(fn);
    return () => {
      this.hooks[kind] = this.hooks[kind].filter((f) => f !== fn);
    };
  }
  run(kind: HookKind, b: Uint8Array): void {
    for (const fn of this.hooks[kind]) fn(IPV4_PROTOCOL_NUMBER, b, 1);
  }
}

const A = Address.parse("198.18.0.1");
const B = Address.parse("198.18.0.2");
const C = Address.parse("198.18.1.1");

describe("attachConnTable", () => {
  test("inbound and outbound packets are tracked in one entry", () => {
    const host = new FakeHost();
    const table = new ConnTable({ clock: new ManualClock() });
    attachConnTable(host, table);
    host.run("outbound", udpPacket(A, B, 1000, 53));
    host.run("inbound", udpPacket(B, A, 53, 1000));
    expect(table.lookup("udp", A, 1000, B, 53)).toMatchObject({
      origPackets: 1,
      replyPackets: 1,
      forwarded: false,
    });
  });

  test("a routed packet is counted once, at inbound, and marked forwarded", () => {
    const host = new FakeHost();
    const table = new ConnTable({ clock: new ManualClock() });
    attachConnTable(host, table);
    const p = udpPacket(C, B, 1000, 53);
    host.run("inbound", p);
    host.run("forwarded", p.slice());
    expect(table.lookup("udp", C, 1000, B, 53)).toMatchObject({ origPackets: 1, forwarded: true });
  });

  test("a packet the stack delivers to itself is counted once", () => {
    const host = new FakeHost();
    const table = new ConnTable({ clock: new ManualClock() });
    attachConnTable(host, table);
    const p = udpPacket(A, A, 1000, 53);
    host.run("outbound", p);
    host.run("inbound", p);
    // The same bytes arriving again later (a copy, from outside) count.
    host.run("inbound", p.slice());
    expect(table.lookup("udp", A, 1000, A, 53)?.origPackets).toBe(2);
  });

  test("a new packet received into the buffer of one just sent is counted", () => {
    const host = new FakeHost();
    const table = new ConnTable({ clock: new ManualClock() });
    attachConnTable(host, table);
    // A link's receive buffer: a request arrives, the reply is built in place and sent, the next
    // request is read into the same buffer.
    const rx = udpPacket(B, A, 53, 1000);
    host.run("inbound", rx);
    rx.set(udpPacket(A, B, 1000, 53));
    host.run("outbound", rx);
    rx.set(udpPacket(B, A, 53, 1000));
    host.run("inbound", rx);
    expect(table.lookup("udp", B, 53, A, 1000)).toMatchObject({ origPackets: 2, replyPackets: 1 });
  });

  test("detaching stops tracking", () => {
    const host = new FakeHost();
    const table = new ConnTable({ clock: new ManualClock() });
    const off = attachConnTable(host, table);
    off();
    host.run("outbound", udpPacket(A, B, 1000, 53));
    expect(table.size).toBe(0);
  });
});
