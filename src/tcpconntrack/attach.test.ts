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

/** ManualClock's default wall time at 0. */
const WALL_BASE = new ManualClock().wallNow();
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

  describe("time: the host's batch time on the table's clock, else the table's clock", () => {
    /** A ManualClock that counts its reads. */
    class CountingClock extends ManualClock {
      reads = 0;
      override now(): number {
        this.reads++;
        return super.now();
      }
    }
    /** A host with a clock and a batch time the test sets (a Stack's `batchNow`). */
    class BatchHost extends FakeHost {
      batchTime = 0;
      batchReads = 0;
      constructor(readonly clock: ManualClock) {
        super();
      }
      batchNow(): number {
        this.batchReads++;
        return this.batchTime;
      }
    }
    const lastSeen = (t: ConnTable, sport: number) => t.lookup("udp", A, sport, B, 53)!.lastSeen - WALL_BASE;

    test("on the table's clock: every packet takes the batch's time and the clock is not read per packet", () => {
      const clock = new CountingClock();
      const host = new BatchHost(clock);
      const table = new ConnTable({ clock });
      attachConnTable(host, table);
      // Two flows, answered (new entries read the clock to arm the expiry timer, not for the packet).
      host.run("outbound", udpPacket(A, B, 1000, 53));
      host.run("outbound", udpPacket(A, B, 1001, 53));
      host.run("inbound", udpPacket(B, A, 53, 1000));
      host.run("inbound", udpPacket(B, A, 53, 1001));
      clock.advance(100);
      host.batchTime = 100;
      host.batchReads = 0;
      const before = clock.reads;
      host.run("outbound", udpPacket(A, B, 1000, 53));
      clock.advance(3); // time passes within the batch
      host.run("inbound", udpPacket(B, A, 53, 1000));
      host.run("outbound", udpPacket(A, B, 1001, 53));
      expect(clock.reads - before).toBe(0);
      expect(host.batchReads).toBe(3);
      expect(lastSeen(table, 1000)).toBe(100);
      expect(lastSeen(table, 1001)).toBe(100);
      expect(table.lookup("udp", A, 1000, B, 53)).toMatchObject({ origPackets: 2, replyPackets: 2 });
    });

    test("a dead entry found by a packet is destroyed at the batch's time", () => {
      const clock = new ManualClock();
      const host = new BatchHost(clock);
      const table = new ConnTable({ clock, timeouts: { udpUnreplied: 10 } });
      attachConnTable(host, table);
      const destroyed: number[] = [];
      table.onChange((e) => {
        if (e.type === "destroy") destroyed.push(e.flow.expiresInMs);
      });
      host.run("outbound", udpPacket(A, B, 1000, 53));
      // The expiry timer has not run (the clock did not fire it), but the batch is past the timeout.
      host.batchTime = 12;
      host.run("outbound", udpPacket(A, B, 1000, 53));
      expect(destroyed).toEqual([0]);
      expect(lastSeen(table, 1000)).toBe(12);
    });

    test("a host on another clock, or without batchNow: the table reads its own clock per tracked packet", () => {
      const clock = new CountingClock(50);
      const other = new BatchHost(new ManualClock(7));
      other.batchTime = 7;
      const plain = new FakeHost();
      const t1 = new ConnTable({ clock });
      const t2 = new ConnTable({ clock });
      attachConnTable(other, t1);
      attachConnTable(plain, t2);
      other.run("outbound", udpPacket(A, B, 1000, 53));
      plain.run("outbound", udpPacket(A, B, 1000, 53));
      clock.advance(5);
      const before = clock.reads;
      other.run("outbound", udpPacket(A, B, 1000, 53));
      plain.run("outbound", udpPacket(A, B, 1000, 53));
      expect(other.batchReads).toBe(0);
      expect(clock.reads - before).toBe(2);
      expect(lastSeen(t1, 1000)).toBe(55);
      expect(lastSeen(t2, 1000)).toBe(55);
    });
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
