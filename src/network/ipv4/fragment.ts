/**
 * Outbound IPv4 fragmentation (RFC 791 §3.2 "Fragmentation and Reassembly",
 * RFC 791 §3.1 option copy flag). Used for locally sent datagrams and for
 * forwarded ones (which may already be fragments: their offset and MF bit
 * carry over).
 */
import { PacketBuffer } from "../../buffer/packet-buffer.ts";
import { checksum, finishChecksum } from "../../header/checksum.ts";
import {
  IPV4_FLAG_MORE_FRAGMENTS,
  IPV4_MIN_SIZE,
  IPV4_OPTIONS_OFFSET,
  Ipv4Header,
  Ipv4OptionIterator,
} from "../../header/ipv4.ts";

/** RFC 791 §3.1: the option-type "copied flag" says the option goes into every fragment. */
const OPTION_COPIED = 0x80;

/** The header for fragments after the first: the fixed part plus only the options with the copied flag. */
function laterHeader(b: Uint8Array, off: number, hlen: number): Uint8Array {
  const opts: number[] = [];
  if (hlen > IPV4_MIN_SIZE) {
    const it = new Ipv4OptionIterator(b, off + IPV4_OPTIONS_OFFSET, hlen - IPV4_MIN_SIZE);
    while (it.next()) {
      if ((it.type & OPTION_COPIED) === 0) continue;
      for (let i = 0; i < it.length; i++) opts.push(b[it.optionOffset + i]!);
    }
  }
  while (opts.length % 4 !== 0) opts.push(0);
  const out = new Uint8Array(IPV4_MIN_SIZE + opts.length);
  out.set(b.subarray(off, off + IPV4_MIN_SIZE));
  out.set(opts, IPV4_MIN_SIZE);
  out[0] = 0x40 | (out.length >> 2);
  return out;
}

/**
 * Splits the datagram at `pkt.head` into fragments of at most `mtu` bytes,
 * each with `headroom` free bytes in front. Returns undefined when the MTU
 * cannot carry 8 bytes of payload after the header.
 */
export function fragmentIpv4(pkt: PacketBuffer, mtu: number, headroom: number): PacketBuffer[] | undefined {
  const b = pkt.data;
  const off = pkt.head;
  const h = new Ipv4Header(b, off);
  const hlen = h.headerLength;
  const total = Math.min(h.totalLength, pkt.size);
  const payload = total - hlen;
  const baseOffset = h.fragmentOffset;
  const originalMore = h.moreFragments;
  const flags = h.flags & ~IPV4_FLAG_MORE_FRAGMENTS;
  const first = b.subarray(off, off + hlen);
  let later: Uint8Array | undefined;
  const out: PacketBuffer[] = [];
  let done = 0;
  while (done < payload) {
    if (done > 0 && !later) later = laterHeader(b, off, hlen);
    const hdr = done === 0 || !later ? first : later;
    const room = Math.floor((mtu - hdr.length) / 8) * 8;
    if (room <= 0) return undefined;
    const n = Math.min(room, payload - done);
    const more = done + n < payload || originalMore;
    const f = PacketBuffer.alloc(headroom, hdr.length + n);
    const fo = f.head;
    f.data.set(hdr, fo);
    f.data.set(b.subarray(off + hlen + done, off + hlen + done + n), fo + hdr.length);
    const fh = new Ipv4Header(f.data, fo);
    fh.setTotalLength(hdr.length + n);
    fh.setFlagsFragmentOffset(flags | (more ? IPV4_FLAG_MORE_FRAGMENTS : 0), baseOffset + done);
    fh.setChecksum(0);
    fh.setChecksum(finishChecksum(checksum(f.data, fo, hdr.length)));
    f.networkHeader = fo;
    f.networkProtocol = pkt.networkProtocol;
    f.transportProtocol = pkt.transportProtocol;
    f.nic = pkt.nic;
    out.push(f);
    done += n;
  }
  return out;
}
