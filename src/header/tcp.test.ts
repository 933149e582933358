import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { Address } from "../tcpip/address.ts";
import { checksum, finishChecksum, pseudoHeaderChecksum } from "./checksum.ts";
import {
  encodeTcp,
  encodeTcpOptions,
  newTcpOptions,
  parseTcpOptions,
  TCP_ACK,
  TCP_CWR,
  TCP_ECE,
  TCP_FIN,
  TCP_MAX_OPTIONS_SIZE,
  TCP_MIN_SIZE,
  TCP_PSH,
  TCP_RST,
  TCP_SYN,
  TCP_URG,
  TcpHeader,
  type TcpOptions,
} from "./tcp.ts";
import { hex, loadFrame, loadFrames } from "./testing/fixtures.ts";

const A = Address.parse("198.18.0.1");
const B = Address.parse("198.18.0.2");

function opts(b: Uint8Array): TcpOptions {
  return parseTcpOptions(b, 0, b.length, newTcpOptions());
}

describe("TcpHeader", () => {
  test("reads every field and option of a captured SYN", () => {
    const f = loadFrame("tcp4", 0);
    const h = new TcpHeader(f, 34);
    expect(h.isValid(f.length - 34)).toBe(true);
    expect(h.srcPort).toBe(44902);
    expect(h.dstPort).toBe(7000);
    expect(h.sequenceNumber).toBe(2440400729);
    expect(h.ackNumber).toBe(0);
    expect(h.dataOffset).toBe(40);
    expect(h.flags).toBe(TCP_SYN);
    expect(h.windowSize).toBe(64240);
    expect(h.checksum).toBe(0xaf62);
    expect(h.urgentPointer).toBe(0);
    expect(h.optionsOffset).toBe(54);
    expect(h.optionsLength).toBe(20);
    expect(h.payloadOffset).toBe(74);
    const o = parseTcpOptions(f, h.optionsOffset, h.optionsLength, newTcpOptions());
    expect(o).toEqual({
      mss: 1460,
      windowScale: 10,
      sackPermitted: true,
      timestamp: true,
      tsVal: 4076352251,
      tsEcr: 0,
      sackBlocks: [],
    });
  });

  test("reads a captured SYN-ACK, data segment and IPv6 SYN", () => {
    const sa = new TcpHeader(loadFrame("tcp4", 1), 34);
    expect(sa.flags).toBe(TCP_SYN | TCP_ACK);
    expect(sa.ackNumber).toBe(2440400730);
    expect(sa.sequenceNumber).toBe(1344810466);
    const so = parseTcpOptions(sa.b, sa.optionsOffset, sa.optionsLength, newTcpOptions());
    expect([so.tsVal, so.tsEcr]).toEqual([2586063103, 4076352251]);

    const d = loadFrame("tcp4", 3);
    const dh = new TcpHeader(d, 34);
    expect(dh.flags).toBe(TCP_PSH | TCP_ACK);
    expect(dh.dataOffset).toBe(32);
    expect(new TextDecoder().decode(d.subarray(dh.payloadOffset))).toBe("hello, netstack\n");
    const dopts = parseTcpOptions(d, dh.optionsOffset, dh.optionsLength, newTcpOptions());
    expect(dopts.mss).toBe(0);
    expect(dopts.windowScale).toBe(-1);
    expect(dopts.timestamp).toBe(true);

    const s6 = loadFrame("tcp6", 0);
    const h6 = new TcpHeader(s6, 54);
    expect(h6.isValid(s6.length - 54)).toBe(true);
    expect(parseTcpOptions(s6, h6.optionsOffset, h6.optionsLength, newTcpOptions()).mss).toBe(1440);
  });

  test("reads SACK blocks from captured duplicate ACKs (RFC 2018 §3)", () => {
    const frames = loadFrames("tcp4-sack");
    expect(frames.length).toBeGreaterThan(0);
    const out = newTcpOptions();
    for (const f of frames) {
      const h = new TcpHeader(f, 34);
      expect(h.isValid(f.length - 34)).toBe(true);
      parseTcpOptions(f, h.optionsOffset, h.optionsLength, out);
      expect(out.timestamp).toBe(true);
      expect(out.sackBlocks.length).toBe(2);
      // The block lies above the cumulative ACK: data past a hole.
      expect((out.sackBlocks[0]! - h.ackNumber) | 0).toBeGreaterThan(0);
      expect((out.sackBlocks[1]! - out.sackBlocks[0]!) | 0).toBeGreaterThan(0);
    }
    const first = new TcpHeader(frames[0]!, 34);
    parseTcpOptions(first.b, first.optionsOffset, first.optionsLength, out);
    expect(out.sackBlocks).toEqual([0x0b64b51d, 0x0b64b8d5]);
  });

  test("encoder reproduces captured SYN, ACK and SACK headers byte for byte (Linux option layout)", () => {
    const check = (frame: Uint8Array<ArrayBuffer>, flags: number) => {
      const h = new TcpHeader(frame, 34);
      const o = parseTcpOptions(frame, h.optionsOffset, h.optionsLength, newTcpOptions());
      const out = new Uint8Array(60);
      const optLen = encodeTcpOptions(out, TCP_MIN_SIZE, o);
      expect(optLen).toBe(h.optionsLength);
      const n = encodeTcp(out, 0, {
        srcPort: h.srcPort,
        dstPort: h.dstPort,
        seq: h.sequenceNumber,
        ack: h.ackNumber,
        flags,
        window: h.windowSize,
        optionsLength: optLen,
        checksum: h.checksum,
      });
      expect(n).toBe(h.dataOffset);
      expect(out.subarray(0, n)).toEqual(frame.subarray(34, 34 + n));
    };
    check(loadFrame("tcp4", 0), TCP_SYN);
    check(loadFrame("tcp4", 1), TCP_SYN | TCP_ACK);
    check(loadFrame("tcp4", 2), TCP_ACK);
    check(loadFrame("tcp6", 0).subarray(20), TCP_SYN); // an IPv6 header is 20 bytes longer than IPv4's
    for (const f of loadFrames("tcp4-sack")) check(f, TCP_ACK);
  });

  test("encodeTcp with copied options and a computed checksum verifies", () => {
    const payload = new TextEncoder().encode("hello");
    const opt = new Uint8Array(12);
    const ol = encodeTcpOptions(opt, 0, { timestamp: true, tsVal: 1, tsEcr: 2 });
    const b = new Uint8Array(TCP_MIN_SIZE + ol + payload.length);
    const n = encodeTcp(b, 0, {
      srcPort: 1,
      dstPort: 2,
      seq: 0xffffffff,
      ack: 7,
      flags: TCP_ACK | TCP_PSH,
      window: 100,
      urgent: 5,
      options: opt.subarray(0, ol),
    });
    b.set(payload, n);
    const h = new TcpHeader(b, 0);
    h.setChecksum(finishChecksum(checksum(b, 0, b.length, pseudoHeaderChecksum(6, A, B, b.length))));
    expect(checksum(b, 0, b.length, pseudoHeaderChecksum(6, A, B, b.length))).toBe(0xffff);
    expect([h.sequenceNumber, h.urgentPointer, h.dataOffset]).toEqual([0xffffffff, 5, 32]);
  });

  test("options not a multiple of 4 are padded with EOL", () => {
    const b = new Uint8Array(30).fill(0xee);
    expect(
      encodeTcp(b, 0, { srcPort: 1, dstPort: 2, seq: 0, ack: 0, flags: 0, window: 0, options: hex("0303") }),
    ).toBe(24);
    expect(b.subarray(20, 24)).toEqual(hex("0303 0000"));
  });

  test("setters rewrite fields in place", () => {
    const f = loadFrame("tcp4", 0);
    const h = new TcpHeader(f, 34);
    h.setSrcPort(1);
    h.setDstPort(2);
    h.setSequenceNumber(0xfffffffe);
    h.setAckNumber(3);
    h.setFlags(TCP_FIN | TCP_RST | TCP_URG | TCP_ECE | TCP_CWR);
    h.setWindowSize(0xffff);
    h.setChecksum(0x1234);
    expect([h.srcPort, h.dstPort, h.sequenceNumber, h.ackNumber, h.flags, h.windowSize, h.checksum]).toEqual([
      1, 2, 0xfffffffe, 3, 0xe5, 0xffff, 0x1234,
    ]);
  });

  test("truncated and impossible data offsets are rejected", () => {
    const f = loadFrame("tcp4", 0);
    expect(new TcpHeader(f, 34).isValid(19)).toBe(false);
    expect(new TcpHeader(f, 34).isValid(39)).toBe(false); // data offset 40 > 39
    const g = f.slice();
    g[34 + 12] = 0x40; // data offset 4 words < 5
    expect(new TcpHeader(g, 34).isValid(40)).toBe(false);
    g[34 + 12] = 0xf0; // 60 bytes > 40 available
    expect(new TcpHeader(g, 34).isValid(40)).toBe(false);
    expect(new TcpHeader(f.subarray(0, 50), 34).isValid(40)).toBe(false);
    expect(new TcpHeader(f, -2).isValid(40)).toBe(false);
  });

  test("encode → parse round trip (header and options)", () => {
    fc.assert(
      fc.property(
        fc.record({
          srcPort: fc.integer({ min: 0, max: 0xffff }),
          dstPort: fc.integer({ min: 0, max: 0xffff }),
          seq: fc.nat({ max: 0xffffffff }),
          ack: fc.nat({ max: 0xffffffff }),
          flags: fc.integer({ min: 0, max: 255 }),
          window: fc.integer({ min: 0, max: 0xffff }),
          urgent: fc.integer({ min: 0, max: 0xffff }),
        }),
        fc.record({
          mss: fc.integer({ min: 0, max: 0xffff }),
          windowScale: fc.integer({ min: -1, max: 14 }),
          sackPermitted: fc.boolean(),
          timestamp: fc.boolean(),
          tsVal: fc.nat({ max: 0xffffffff }),
          tsEcr: fc.nat({ max: 0xffffffff }),
          sackBlocks: fc
            .array(fc.nat({ max: 0xffffffff }), { maxLength: 8 })
            .map((a) => a.slice(0, a.length & ~1)),
        }),
        (f, o) => {
          const b = new Uint8Array(64);
          const ol = encodeTcpOptions(b, 2 + TCP_MIN_SIZE, o);
          expect(ol % 4).toBe(0);
          expect(ol).toBeLessThanOrEqual(TCP_MAX_OPTIONS_SIZE);
          const n = encodeTcp(b, 2, { ...f, optionsLength: ol });
          const h = new TcpHeader(b, 2);
          expect(h.isValid(n)).toBe(true);
          expect([
            h.srcPort,
            h.dstPort,
            h.sequenceNumber,
            h.ackNumber,
            h.flags,
            h.windowSize,
            h.urgentPointer,
          ]).toEqual([f.srcPort, f.dstPort, f.seq, f.ack, f.flags, f.window, f.urgent]);
          const p = parseTcpOptions(b, h.optionsOffset, h.optionsLength, newTcpOptions());
          expect(p.mss).toBe(o.mss);
          expect(p.windowScale).toBe(o.windowScale);
          expect(p.sackPermitted).toBe(o.sackPermitted);
          expect(p.timestamp).toBe(o.timestamp);
          if (o.timestamp) expect([p.tsVal, p.tsEcr]).toEqual([o.tsVal, o.tsEcr]);
          // Blocks that fit: RFC 2018 §3, at most 4, and within 40 bytes of options.
          expect(p.sackBlocks).toEqual(o.sackBlocks.slice(0, p.sackBlocks.length));
          if (!o.timestamp && !o.sackPermitted && o.mss === 0 && o.windowScale < 0)
            expect(p.sackBlocks.length).toBe(Math.min(o.sackBlocks.length, 8));
        },
      ),
    );
  });

  test("random bytes never throw (header and options)", () => {
    const out = newTcpOptions();
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), fc.integer({ min: 0, max: 80 }), (b, off) => {
        const h = new TcpHeader(b, off);
        // Option parsing must survive any bytes, valid header or not.
        parseTcpOptions(b, off, b.length - off, out);
        expect(out.sackBlocks.length % 2).toBe(0);
        if (!h.isValid(b.length - off)) return;
        const all = [h.srcPort, h.dstPort, h.sequenceNumber, h.ackNumber, h.dataOffset, h.flags];
        all.push(h.windowSize, h.checksum, h.urgentPointer, h.optionsLength, h.payloadOffset);
        expect(all.every(Number.isInteger)).toBe(true);
        parseTcpOptions(b, h.optionsOffset, h.optionsLength, out);
        expect(out.windowScale).toBeLessThanOrEqual(14);
      }),
    );
  });
});

describe("parseTcpOptions", () => {
  test("EOL ends the list; what follows is not parsed", () => {
    expect(opts(hex("00 020405b4")).mss).toBe(0);
    expect(opts(hex("01 01 020405b4 00 0303 07")).mss).toBe(1460);
  });

  test("length 0 or 1 stops parsing without throwing and keeps what was parsed", () => {
    const z = opts(hex("020405b4 fe00 0402"));
    expect([z.mss, z.sackPermitted]).toEqual([1460, false]);
    const o = opts(hex("0402 0801 0000"));
    expect([o.sackPermitted, o.timestamp]).toEqual([true, false]);
  });

  test("a length running past the end stops parsing", () => {
    const o = opts(hex("0402 080a 0000 0001"));
    expect([o.sackPermitted, o.timestamp]).toEqual([true, false]);
    expect(opts(hex("02")).mss).toBe(0); // kind without length byte
  });

  test("unknown kinds are skipped by their length; wrong-length known kinds are ignored", () => {
    const o = opts(hex("1e 06 00000000 0303 07 0205 05b4 00 0402"));
    expect(o.windowScale).toBe(7);
    expect(o.mss).toBe(0); // MSS with length 5 is ignored
    expect(o.sackPermitted).toBe(true); // the bad MSS is skipped by its length 5, "0402" follows
    expect(opts(hex("0403 00 0a09 0000000000 0000")).sackPermitted).toBe(false);
    expect(opts(hex("0509 0000000100000002 00")).sackBlocks).toEqual([]); // not 2 + 8n
    expect(opts(hex("0502")).sackBlocks).toEqual([]); // no blocks
  });

  test("window scale above 14 is clamped to 14 (RFC 7323 §2.3)", () => {
    expect(opts(hex("030320")).windowScale).toBe(14);
  });

  test("the out object is reset and reused", () => {
    const out = newTcpOptions();
    parseTcpOptions(hex("020405b4 0402 0101 050a 00000001 00000002"), 0, 20, out);
    expect(out.sackBlocks).toEqual([1, 2]);
    const same = parseTcpOptions(hex("01010101"), 0, 4, out);
    expect(same).toBe(out);
    expect(out).toEqual(newTcpOptions());
  });

  test("len beyond the buffer and negative len are clamped", () => {
    expect(parseTcpOptions(hex("020405b4"), 0, 1000, newTcpOptions()).mss).toBe(1460);
    expect(parseTcpOptions(hex("020405b4"), 0, -4, newTcpOptions()).mss).toBe(0);
  });
});

describe("encodeTcpOptions", () => {
  test("layouts: SACK-permitted without timestamps, timestamps alone, nothing", () => {
    const b = new Uint8Array(40);
    expect(encodeTcpOptions(b, 0, { mss: 1460, sackPermitted: true, windowScale: 7 })).toBe(12);
    expect(b.subarray(0, 12)).toEqual(hex("020405b4 01010402 01030307"));
    expect(encodeTcpOptions(b, 0, { timestamp: true, tsVal: 0x01020304, tsEcr: 5 })).toBe(12);
    expect(b.subarray(0, 12)).toEqual(hex("0101080a 01020304 00000005"));
    expect(encodeTcpOptions(b, 0, {})).toBe(0);
    expect(encodeTcpOptions(b, 0, newTcpOptions())).toBe(0);
  });

  test("SACK blocks: 3 fit with timestamps, 4 without (RFC 2018 §3)", () => {
    const blocks = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    const b = new Uint8Array(60);
    expect(encodeTcpOptions(b, 0, { timestamp: true, sackBlocks: blocks })).toBe(40);
    expect(opts(b.subarray(0, 40)).sackBlocks).toEqual(blocks.slice(0, 6));
    expect(encodeTcpOptions(b, 0, { sackBlocks: blocks })).toBe(36);
    expect(opts(b.subarray(0, 36)).sackBlocks).toEqual(blocks.slice(0, 8));
    // MSS + SACK-permitted + TS + WS take 20 bytes; NOP NOP SACK header 4; 16 left → two blocks.
    const full = { mss: 1, sackPermitted: true, timestamp: true, windowScale: 1, sackBlocks: blocks };
    expect(encodeTcpOptions(b, 0, full)).toBe(40);
    expect(opts(b.subarray(0, 40)).sackBlocks).toEqual(blocks.slice(0, 4));
  });
});

describe("parseTcpOptions against a model", () => {
  type Opt =
    | { k: "mss"; v: number }
    | { k: "ws"; v: number }
    | { k: "sackok" }
    | { k: "ts"; val: number; ecr: number }
    | { k: "sack"; blocks: number[] }
    | { k: "nop" }
    | { k: "unknown"; kind: number; data: Uint8Array };
  const u32 = fc.nat({ max: 0xffffffff });
  const opt: fc.Arbitrary<Opt> = fc.oneof(
    fc.record({ k: fc.constant("mss" as const), v: fc.integer({ min: 0, max: 0xffff }) }),
    fc.record({ k: fc.constant("ws" as const), v: fc.integer({ min: 0, max: 255 }) }),
    fc.record({ k: fc.constant("sackok" as const) }),
    fc.record({ k: fc.constant("ts" as const), val: u32, ecr: u32 }),
    fc.record({
      k: fc.constant("sack" as const),
      blocks: fc.array(u32, { minLength: 2, maxLength: 8 }).map((a) => a.slice(0, a.length & ~1)),
    }),
    fc.record({ k: fc.constant("nop" as const) }),
    fc.record({
      k: fc.constant("unknown" as const),
      kind: fc.integer({ min: 6, max: 254 }).filter((x) => x !== 8),
      data: fc.uint8Array({ maxLength: 6 }),
    }),
  );

  function serialize(opts: Opt[]): number[] {
    const out: number[] = [];
    const w32 = (v: number) => out.push(v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255);
    for (const o of opts) {
      if (o.k === "mss") out.push(2, 4, o.v >> 8, o.v & 255);
      else if (o.k === "ws") out.push(3, 3, o.v);
      else if (o.k === "sackok") out.push(4, 2);
      else if (o.k === "ts") {
        out.push(8, 10);
        w32(o.val);
        w32(o.ecr);
      } else if (o.k === "sack") {
        out.push(5, 2 + 4 * o.blocks.length);
        for (const x of o.blocks) w32(x);
      } else if (o.k === "nop") out.push(1);
      else out.push(o.kind, 2 + o.data.length, ...o.data);
    }
    return out;
  }

  function model(opts: Opt[]): TcpOptions {
    const m = newTcpOptions();
    for (const o of opts) {
      if (o.k === "mss") m.mss = o.v;
      else if (o.k === "ws") m.windowScale = Math.min(o.v, 14);
      else if (o.k === "sackok") m.sackPermitted = true;
      else if (o.k === "ts") Object.assign(m, { timestamp: true, tsVal: o.val, tsEcr: o.ecr });
      else if (o.k === "sack") m.sackBlocks = [...o.blocks];
    }
    return m;
  }

  test("well-formed lists parse to the model (later options win)", () => {
    fc.assert(
      fc.property(
        fc.array(opt, { maxLength: 10 }),
        fc.boolean(),
        fc.uint8Array({ maxLength: 8 }),
        (opts, eol, junk) => {
          const bytes = serialize(opts);
          // After EOL anything may follow and must be ignored (RFC 9293 §3.2).
          if (eol) bytes.push(0, ...junk);
          const b = Uint8Array.from(bytes);
          expect(parseTcpOptions(b, 0, b.length, newTcpOptions())).toEqual(model(opts));
        },
      ),
    );
  });

  test("a list cut anywhere keeps exactly the options that fit whole", () => {
    fc.assert(
      fc.property(fc.array(opt, { minLength: 1, maxLength: 8 }), fc.nat(), (opts, c) => {
        const b = Uint8Array.from(serialize(opts));
        const cut = c % (b.length + 1);
        // The model over the options that end at or before the cut.
        let end = 0;
        const whole: Opt[] = [];
        for (const o of opts) {
          end += serialize([o]).length;
          if (end <= cut) whole.push(o);
          else break;
        }
        expect(parseTcpOptions(b, 0, cut, newTcpOptions())).toEqual(model(whole));
      }),
    );
  });
});
