import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { hex } from "./testing/fixtures.ts";
import {
  clearVirtioNetHeader,
  encodeVirtioNetHeader,
  VIRTIO_NET_HDR_F_DATA_VALID,
  VIRTIO_NET_HDR_F_NEEDS_CSUM,
  VIRTIO_NET_HDR_GSO_ECN,
  VIRTIO_NET_HDR_GSO_TCPV4,
  VIRTIO_NET_HDR_SIZE,
  VirtioNetHeader,
} from "./virtio-net.ts";

describe("VirtioNetHeader", () => {
  test("reads a TSO header as Linux writes it (little-endian fields, virtio spec §5.1.6)", () => {
    // flags NEEDS_CSUM, gso TCPV4, hdr_len 66, gso_size 1448, csum_start 34, csum_offset 16
    const b = hex("01 01 4200 a805 2200 1000");
    const h = new VirtioNetHeader(b, 0);
    expect(h.isValid(10)).toBe(true);
    expect([h.flags, h.gsoType, h.hdrLen, h.gsoSize, h.csumStart, h.csumOffset]).toEqual([
      1, 1, 66, 1448, 34, 16,
    ]);
    expect(h.needsChecksum).toBe(true);
    expect(h.dataValid).toBe(false);
  });

  test("encoder writes the same bytes; clear zeroes them", () => {
    const b = new Uint8Array(12).fill(0xff);
    expect(
      encodeVirtioNetHeader(b, 1, {
        flags: VIRTIO_NET_HDR_F_NEEDS_CSUM,
        gsoType: VIRTIO_NET_HDR_GSO_TCPV4,
        hdrLen: 66,
        gsoSize: 1448,
        csumStart: 34,
        csumOffset: 16,
      }),
    ).toBe(VIRTIO_NET_HDR_SIZE);
    expect(b.subarray(1, 11)).toEqual(hex("01 01 4200 a805 2200 1000"));
    clearVirtioNetHeader(b, 1);
    expect(b).toEqual(hex("ff 00000000000000000000 ff"));
  });

  test("truncated headers and undefined gso types are rejected", () => {
    expect(new VirtioNetHeader(new Uint8Array(10), 0).isValid(9)).toBe(false);
    expect(new VirtioNetHeader(new Uint8Array(9), 0).isValid(10)).toBe(false);
    expect(new VirtioNetHeader(hex("00 02 0000 0000 0000 0000"), 0).isValid(10)).toBe(false);
    expect(new VirtioNetHeader(hex("02 81 0000 0000 0000 0000"), 0).isValid(10)).toBe(true); // TCPV4 | ECN
    expect(new VirtioNetHeader(hex("02 00 0000 0000 0000 0000"), 0).dataValid).toBe(true);
  });

  test("encode → parse round trip", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 7 }),
        fc.constantFrom(0, 1, 3, 4, 5, 0x81, 0x84),
        fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 4, maxLength: 4 }),
        (flags, gsoType, [hdrLen, gsoSize, csumStart, csumOffset]) => {
          const b = new Uint8Array(10);
          const f = {
            flags,
            gsoType,
            hdrLen: hdrLen!,
            gsoSize: gsoSize!,
            csumStart: csumStart!,
            csumOffset: csumOffset!,
          };
          encodeVirtioNetHeader(b, 0, f);
          const h = new VirtioNetHeader(b, 0);
          expect(h.isValid(10)).toBe(true);
          expect({
            flags: h.flags,
            gsoType: h.gsoType,
            hdrLen: h.hdrLen,
            gsoSize: h.gsoSize,
            csumStart: h.csumStart,
            csumOffset: h.csumOffset,
          }).toEqual(f);
          expect((h.gsoType & VIRTIO_NET_HDR_GSO_ECN) !== 0).toBe(gsoType >= 0x80);
          expect(h.dataValid).toBe((flags & VIRTIO_NET_HDR_F_DATA_VALID) !== 0);
        },
      ),
    );
  });

  test("random bytes never throw", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 20 }), fc.integer({ min: 0, max: 20 }), (b, off) => {
        const h = new VirtioNetHeader(b, off);
        if (!h.isValid(b.length - off)) return;
        expect(
          [h.flags, h.gsoType, h.hdrLen, h.gsoSize, h.csumStart, h.csumOffset].every(Number.isInteger),
        ).toBe(true);
      }),
    );
  });
});
