/** Random input never throws and the connection survives; a seeded lossy, reordering path keeps the stream intact. */
import { describe, expect, test } from "bun:test";
import { TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN } from "../../header/tcp.ts";
import { SeededRandom } from "../../tcpip/random.ts";
import { bytes, drain, Pair } from "./testing/pair.ts";
import { LINUX_SYN_OPTIONS, RawPeer } from "./testing/peer.ts";

describe("fuzz", () => {
  test("random bytes as segments never throw and are counted", () => {
    const p = new RawPeer();
    const { ep } = p.acceptConnection();
    const r = new SeededRandom(42);
    for (let i = 0; i < 3000; i++) {
      const b = new Uint8Array(r.u32() % 80);
      for (let j = 0; j < b.length; j++) b[j] = r.u32() & 255;
      // Half of them aimed at the connection's ports so they reach the endpoint.
      if (b.length >= 4 && i % 2 === 0) {
        b[0] = p.remotePort >> 8;
        b[1] = p.remotePort & 255;
        b[2] = p.localPort >> 8;
        b[3] = p.localPort & 255;
      }
      p.sendRaw(b);
    }
    expect(ep.state).toBe("ESTABLISHED");
    expect(p.stack.stats.tcp.invalidSegmentsReceived).toBeGreaterThan(0);
  });

  test("random well-formed segments never throw; the connection still works after", () => {
    const p = new RawPeer();
    const { ep, irs, iss } = p.acceptConnection();
    const r = new SeededRandom(7);
    for (let i = 0; i < 5000; i++) {
      const flags = r.u32() & ~(TCP_RST | TCP_FIN | TCP_SYN) & 0xff;
      const n = r.u32() % 3 === 0 ? r.u32() % 200 : 0;
      p.send({
        flags: flags | (r.u32() % 4 === 0 ? 0 : TCP_ACK),
        seq: r.u32(),
        ack: r.u32(),
        window: r.u32() & 0xffff,
        payload: bytes(n, i),
        options:
          r.u32() % 2
            ? { timestamp: true, tsVal: r.u32(), tsEcr: r.u32(), sackBlocks: [r.u32(), r.u32()] }
            : { mss: r.u32() & 0xffff, windowScale: r.u32() % 20 },
      });
      p.advance(r.u32() % 50);
    }
    expect(ep.state).toBe("ESTABLISHED");
    p.sent.length = 0;
    ep.setSockOpt("NoDelay", true);
    ep.write(bytes(10));
    p.advance(1);
    expect(p.sent.some((s) => s.payload.length > 0)).toBe(true);
    expect(iss).toBeGreaterThanOrEqual(0);
    expect(irs).toBe(5000);
  });

  test("random segments with every flag, against every state, never throw", () => {
    const r = new SeededRandom(99);
    for (let round = 0; round < 20; round++) {
      const p = new RawPeer({ seed: round + 1 });
      const { ep, irs } = p.acceptConnection(LINUX_SYN_OPTIONS);
      if (round % 3 === 1) ep.close();
      if (round % 3 === 2) ep.shutdown(2);
      for (let i = 0; i < 300; i++) {
        const near = r.u32() % 2 === 0;
        p.send({
          flags: r.u32() & 0xff,
          seq: near ? (irs + 1 + (r.u32() % 3000)) >>> 0 : r.u32(),
          ack: r.u32(),
          window: r.u32() & 0xffff,
          payload: bytes(r.u32() % 100, i),
          options: { timestamp: r.u32() % 2 === 0, tsVal: r.u32(), tsEcr: r.u32() },
        });
        p.advance(r.u32() % 2000);
      }
      expect(typeof ep.state).toBe("string");
    }
  });

  test("seeded 5% loss and random delays: both directions arrive intact", () => {
    const pair = new Pair();
    const r = new SeededRandom(2024);
    const { client, server } = pair.connect();
    pair.filter = () => {
      const x = r.u32() % 100;
      if (x < 5) return "drop";
      return 1 + (r.u32() % 20);
    };
    const up = bytes(150_000, 3);
    const down = bytes(100_000, 4);
    let upOff = 0;
    let downOff = 0;
    const gotUp: Uint8Array[] = [];
    const gotDown: Uint8Array[] = [];
    let nu = 0;
    let nd = 0;
    for (let i = 0; i < 200_000 && (nu < up.length || nd < down.length); i++) {
      try {
        if (upOff < up.length) upOff += client.write(up.subarray(upOff));
      } catch {}
      try {
        if (downOff < down.length) downOff += server.write(down.subarray(downOff));
      } catch {}
      pair.run(5);
      const u = drain(server);
      const d = drain(client);
      nu += u.length;
      nd += d.length;
      gotUp.push(u);
      gotDown.push(d);
    }
    expect(Buffer.compare(Buffer.concat(gotUp), up)).toBe(0);
    expect(Buffer.compare(Buffer.concat(gotDown), down)).toBe(0);
    expect(pair.a.stats.tcp.retransmits + pair.b.stats.tcp.retransmits).toBeGreaterThan(0);
  });
});

describe("seeded network simulation", () => {
  for (let seed = 1; seed <= 30; seed++) {
    test(`seed ${seed}: loss, duplication and reordering both ways, then a clean close`, () => {
      const pair = new Pair({ tcp: { timeWaitMs: 1000, congestionControl: seed % 2 ? "reno" : "cubic" } });
      const r = new SeededRandom(seed * 7919);
      const { client, server } = pair.connect();
      pair.filter = () => {
        const x = r.u32() % 100;
        if (x < 3) return "drop";
        if (x < 5) return [1 + (r.u32() % 30), 1 + (r.u32() % 30)];
        return 1 + (r.u32() % 15);
      };
      const up = bytes(60_000 + (r.u32() % 60_000), seed);
      const down = bytes(30_000 + (r.u32() % 30_000), seed + 100);
      let upOff = 0;
      let downOff = 0;
      const gotUp: Uint8Array[] = [];
      const gotDown: Uint8Array[] = [];
      let closedUp = false;
      let closedDown = false;
      for (let i = 0; i < 50_000 && !(client.state === "CLOSED" && server.state === "CLOSED"); i++) {
        try {
          if (upOff < up.length) upOff += client.write(up.subarray(upOff));
          else if (!closedUp) {
            client.shutdown(2);
            closedUp = true;
          }
        } catch {}
        try {
          if (downOff < down.length) downOff += server.write(down.subarray(downOff));
        } catch {}
        pair.run(5);
        gotUp.push(drain(server));
        gotDown.push(drain(client));
        // Close each side once it has read the other's FIN (so nothing unread is left to reset).
        if (!closedDown && downOff === down.length && server.rcv.finReceived) {
          server.close();
          closedDown = true;
        }
        if (client.rcv.finReceived && !client.closedByUser) client.close();
      }
      expect(Buffer.compare(Buffer.concat(gotUp), up)).toBe(0);
      expect(Buffer.compare(Buffer.concat(gotDown), down)).toBe(0);
      pair.run(5000);
      expect(client.state).toBe("CLOSED");
      expect(server.state).toBe("CLOSED");
      expect(pair.a.registeredCount + pair.b.registeredCount).toBe(1);
    });
  }
});
