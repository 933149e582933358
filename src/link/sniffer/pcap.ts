/**
 * A writer of classic libpcap capture files (the format `tcpdump -w` writes and
 * `tcpdump -r` / Wireshark read): a 24-byte global header, then per packet a
 * 16-byte record header and the captured bytes. Fields are written
 * little-endian; readers recognise the byte order from the magic number.
 *
 * The core does not touch files: the caller hands in a sink (the CLI passes
 * one over a file, tests pass one that collects bytes). Each `write` gets a
 * fresh array that the writer never touches again, so a sink may keep it.
 */

export const PCAP_MAGIC = 0xa1b2c3d4;
export const PCAP_VERSION_MAJOR = 2;
export const PCAP_VERSION_MINOR = 4;
export const PCAP_GLOBAL_HEADER_LENGTH = 24;
export const PCAP_RECORD_HEADER_LENGTH = 16;
/** LINKTYPE_ETHERNET: frames start with the 14-byte Ethernet II header. */
export const LINKTYPE_ETHERNET = 1;
/** LINKTYPE_RAW: bare IPv4 or IPv6 packets, told apart by the version nibble. */
export const LINKTYPE_RAW = 101;
/** LINKTYPE_IPV4: bare IPv4 packets only. */
export const LINKTYPE_IPV4 = 228;
/** LINKTYPE_IPV6: bare IPv6 packets only. */
export const LINKTYPE_IPV6 = 229;
export const DEFAULT_SNAPLEN = 65535;

/** Where capture bytes go: a file in the CLI, an array in tests. */
export interface PcapSink {
  write(bytes: Uint8Array): void;
}

export interface PcapOptions {
  linkType: number;
  /** Most bytes kept per packet (default 65535); longer packets are cut and keep their original length. */
  snaplen?: number;
}

export class PcapWriter {
  readonly linkType: number;
  readonly snaplen: number;
  /** Records written. */
  packets = 0;

  /** Writes the global header to `sink` at once. */
  constructor(
    private readonly sink: PcapSink,
    opts: PcapOptions,
  ) {
    this.linkType = opts.linkType;
    this.snaplen = opts.snaplen ?? DEFAULT_SNAPLEN;
    const h = new Uint8Array(PCAP_GLOBAL_HEADER_LENGTH);
    const dv = new DataView(h.buffer);
    dv.setUint32(0, PCAP_MAGIC, true);
    dv.setUint16(4, PCAP_VERSION_MAJOR, true);
    dv.setUint16(6, PCAP_VERSION_MINOR, true);
    dv.setInt32(8, 0, true); // thiszone: timestamps are UTC
    dv.setUint32(12, 0, true); // sigfigs
    dv.setUint32(16, this.snaplen, true);
    dv.setUint32(20, this.linkType, true);
    sink.write(h);
  }

  /**
   * Writes one record at wall time `wallMs` (milliseconds since the Unix
   * epoch). The packet is the concatenation of `prefix` (a synthesized link
   * header, may be empty) and `body`; one array holds header and bytes.
   */
  writePacket(wallMs: number, body: Uint8Array, prefix?: Uint8Array): void {
    const pre = prefix?.length ?? 0;
    const orig = pre + body.length;
    const incl = Math.min(orig, this.snaplen);
    const rec = new Uint8Array(PCAP_RECORD_HEADER_LENGTH + incl);
    const dv = new DataView(rec.buffer);
    const ms = Math.max(0, wallMs);
    const sec = Math.floor(ms / 1000);
    const usec = Math.min(999_999, Math.floor((ms - sec * 1000) * 1000));
    dv.setUint32(0, sec >>> 0, true);
    dv.setUint32(4, usec, true);
    dv.setUint32(8, incl, true);
    dv.setUint32(12, orig, true);
    let at = PCAP_RECORD_HEADER_LENGTH;
    if (prefix && pre > 0) {
      const n = Math.min(pre, incl);
      rec.set(prefix.subarray(0, n), at);
      at += n;
    }
    const rest = incl - (at - PCAP_RECORD_HEADER_LENGTH);
    if (rest > 0) rec.set(body.subarray(0, rest), at);
    this.packets++;
    this.sink.write(rec);
  }
}

/** One record read back by `readPcap` (for tests and tools). */
export interface PcapRecord {
  wallMs: number;
  originalLength: number;
  data: Uint8Array;
}

/**
 * Parses a classic pcap file in either byte order (microsecond timestamps).
 * Returns `undefined` for anything that is not one; stops at a truncated record.
 */
export function readPcap(
  bytes: Uint8Array,
): { linkType: number; snaplen: number; records: PcapRecord[] } | undefined {
  if (bytes.length < PCAP_GLOBAL_HEADER_LENGTH) return undefined;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let le: boolean;
  if (dv.getUint32(0, true) === PCAP_MAGIC) le = true;
  else if (dv.getUint32(0, false) === PCAP_MAGIC) le = false;
  else return undefined;
  const snaplen = dv.getUint32(16, le);
  const linkType = dv.getUint32(20, le);
  const records: PcapRecord[] = [];
  let at = PCAP_GLOBAL_HEADER_LENGTH;
  while (at + PCAP_RECORD_HEADER_LENGTH <= bytes.length) {
    const sec = dv.getUint32(at, le);
    const usec = dv.getUint32(at + 4, le);
    const incl = dv.getUint32(at + 8, le);
    const orig = dv.getUint32(at + 12, le);
    const start = at + PCAP_RECORD_HEADER_LENGTH;
    if (start + incl > bytes.length) break;
    records.push({
      wallMs: sec * 1000 + usec / 1000,
      originalLength: orig,
      data: bytes.slice(start, start + incl),
    });
    at = start + incl;
  }
  return { linkType, snaplen, records };
}
