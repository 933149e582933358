/**
 * A minimal reader for classic libpcap files (the tcpdump `-w` format): the
 * 24-byte global header, then 16-byte record headers each followed by the
 * captured bytes. Both byte orders and the nanosecond magic are accepted.
 * Pure (bytes in, frames out) so fixtures can be loaded anywhere.
 */

export const PCAP_LINKTYPE_ETHERNET = 1;

export interface PcapFile {
  linkType: number;
  /** Captured bytes of each record, as views into the file bytes. */
  frames: Uint8Array[];
}

export class PcapFormatError extends Error {
  override name = "PcapFormatError";
}

export function readPcap(bytes: Uint8Array): PcapFile {
  if (bytes.length < 24)
    throw new PcapFormatError(`Cannot read pcap: ${bytes.length} bytes is shorter than its header`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = dv.getUint32(0, true);
  let le: boolean;
  if (magic === 0xa1b2c3d4 || magic === 0xa1b23c4d) le = true;
  else if (magic === 0xd4c3b2a1 || magic === 0x4d3cb2a1) le = false;
  else throw new PcapFormatError(`Cannot read pcap: bad magic 0x${magic.toString(16)}`);
  const linkType = dv.getUint32(20, le) & 0x0fffffff;
  const frames: Uint8Array[] = [];
  let o = 24;
  while (o + 16 <= bytes.length) {
    const incl = dv.getUint32(o + 8, le);
    o += 16;
    if (o + incl > bytes.length)
      throw new PcapFormatError(`Cannot read pcap: record at ${o - 16} runs past the end`);
    frames.push(bytes.subarray(o, o + incl));
    o += incl;
  }
  return { linkType, frames };
}
