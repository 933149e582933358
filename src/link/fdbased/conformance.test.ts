/**
 * The shared link conformance suite (src/link/testing/conformance.ts) against
 * `FdEndpoint` over a SOCK_SEQPACKET socketpair: boundary-preserving like a
 * TUN/TAP fd, and no root needed. The test plays the device on the other end.
 */

import { VIRTIO_NET_HDR_SIZE } from "../../header/virtio-net.ts";
import { LinkAddress } from "../../tcpip/link-address.ts";
import { IPV4_PROTOCOL_NUMBER, IPV6_PROTOCOL_NUMBER } from "../../tcpip/protocols.ts";
import { EthernetEndpoint } from "../ethernet/ethernet.ts";
import type { LinkEndpoint } from "../link-endpoint.ts";
import {
  AF_UNIX,
  close,
  readFd,
  SOCK_CLOEXEC,
  SOCK_NONBLOCK,
  SOCK_SEQPACKET,
  socketpair,
  writeFd,
} from "../rawfile/index.ts";
import { type LinkHarness, runLinkConformance, type WirePacket } from "../testing/conformance.ts";
import { FdEndpoint, type FdFraming } from "./fd-endpoint.ts";

const MAC = new LinkAddress(Uint8Array.of(0x02, 0x00, 0x5e, 0x00, 0x00, 0x01));
const PEER = new LinkAddress(Uint8Array.of(0x02, 0x00, 0x5e, 0x00, 0x00, 0x02));

function harness(framing: FdFraming, vnetHdr: boolean): LinkHarness {
  const [a, b] = socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC);
  const fdLink = new FdEndpoint({ fd: a, mtu: 1500, framing, linkAddress: MAC, vnetHdr, ownsFd: true });
  // Whole frames go to an EthernetEndpoint above (src/link/ethernet), which frames them.
  const link: LinkEndpoint =
    framing === "frames" ? new EthernetEndpoint(fdLink, { linkAddress: MAC }) : fdLink;
  const pre = vnetHdr ? VIRTIO_NET_HDR_SIZE : 0;
  const eth = framing === "ip" ? 0 : 14;
  const raw = (bytes: Uint8Array): void => {
    const out = new Uint8Array(pre + bytes.length);
    out.set(bytes, pre);
    writeFd(b, out);
  };
  const buf = new Uint8Array(70000);
  return {
    link,
    inject(protocol, bytes) {
      if (eth === 0) return raw(bytes);
      const f = new Uint8Array(14 + bytes.length);
      f.set(MAC.bytes, 0);
      f.set(PEER.bytes, 6);
      f[12] = protocol >> 8;
      f[13] = protocol & 0xff;
      f.set(bytes, 14);
      raw(f);
    },
    injectRaw: raw,
    takeWritten() {
      const out: WirePacket[] = [];
      for (;;) {
        const n = readFd(b, buf);
        if (n <= 0) break;
        const body = buf.slice(pre, n);
        if (eth === 0) {
          const v = body[0]! >> 4;
          out.push({ protocol: v === 6 ? IPV6_PROTOCOL_NUMBER : IPV4_PROTOCOL_NUMBER, bytes: body });
        } else {
          out.push({ protocol: (body[12]! << 8) | body[13]!, bytes: body.slice(14) });
        }
      }
      return out;
    },
    settle: () => Bun.sleep(1),
    async close() {
      fdLink.close();
      await fdLink.wait();
      close(b);
    },
  };
}

runLinkConformance("fdbased, IP framing over SOCK_SEQPACKET", () => harness("ip", false));
runLinkConformance("fdbased, Ethernet framing over SOCK_SEQPACKET", () => harness("ethernet", false));
runLinkConformance("fdbased, whole frames under EthernetEndpoint over SOCK_SEQPACKET", () =>
  harness("frames", false),
);
runLinkConformance("fdbased, Ethernet framing with virtio-net headers over SOCK_SEQPACKET", () =>
  harness("ethernet", true),
);
runLinkConformance("fdbased, IP framing with virtio-net headers over SOCK_SEQPACKET", () =>
  harness("ip", true),
);
