/**
 * IPv6 extension headers (RFC 8200 §4): the chain walker, the Hop-by-Hop and
 * Destination Options TLV iterator (§4.2), the Routing (§4.4) and Fragment
 * (§4.5) headers.
 */
import { readU16, readU32, writeU16, writeU32 } from "./bytes.ts";

/** Next Header values that name extension headers (RFC 8200 §4, IANA). */
export const IPV6_HOP_BY_HOP = 0;
export const IPV6_ROUTING = 43;
export const IPV6_FRAGMENT = 44;
export const IPV6_ESP = 50;
export const IPV6_AUTHENTICATION = 51;
export const IPV6_NO_NEXT_HEADER = 59;
export const IPV6_DESTINATION_OPTIONS = 60;

export const IPV6_EXT_NEXT_HEADER_OFFSET = 0;
export const IPV6_EXT_LENGTH_OFFSET = 1;
/** Options of Hop-by-Hop and Destination Options headers start after Next Header and Hdr Ext Len. */
export const IPV6_EXT_OPTIONS_OFFSET = 2;

export const IPV6_FRAGMENT_HEADER_SIZE = 8;
export const IPV6_FRAGMENT_OFFSET_OFFSET = 2;
export const IPV6_FRAGMENT_ID_OFFSET = 4;

export const IPV6_ROUTING_TYPE_OFFSET = 2;
export const IPV6_ROUTING_SEGMENTS_LEFT_OFFSET = 3;

/** Option types (RFC 8200 §4.2, RFC 2711, RFC 2675). */
export const IPV6_OPTION_PAD1 = 0;
export const IPV6_OPTION_PADN = 1;
export const IPV6_OPTION_ROUTER_ALERT = 5;
export const IPV6_OPTION_JUMBO = 0xc2;

/**
 * RFC 8200 §4.2: the two high-order bits of an option type say what to do
 * with an unrecognised option.
 */
export const IPV6_OPTION_ACTION_SKIP = 0;
export const IPV6_OPTION_ACTION_DISCARD = 1;
/** Discard and send ICMP Parameter Problem code 2 pointing at the option type. */
export const IPV6_OPTION_ACTION_DISCARD_SEND_ICMP = 2;
/** As above, but only if the destination was not multicast. */
export const IPV6_OPTION_ACTION_DISCARD_SEND_ICMP_NO_MULTICAST = 3;

/** The action bits of an option type (RFC 8200 §4.2). */
export function ipv6OptionAction(type: number): number {
  return (type >> 6) & 3;
}
/** The "may change en route" bit (RFC 8200 §4.2, third-highest bit). */
export function ipv6OptionMayChange(type: number): boolean {
  return (type & 0x20) !== 0;
}

/** Whether `nextHeader` names an extension header this walker steps over. */
export function isIpv6ExtensionHeader(nextHeader: number): boolean {
  return (
    nextHeader === IPV6_HOP_BY_HOP ||
    nextHeader === IPV6_ROUTING ||
    nextHeader === IPV6_FRAGMENT ||
    nextHeader === IPV6_DESTINATION_OPTIONS ||
    nextHeader === IPV6_AUTHENTICATION
  );
}

/** Why a walk stopped. */
export const IPV6_EXT_OK = 0;
/** A header's length runs past the end of the packet. */
export const IPV6_EXT_TRUNCATED = 1;
/** RFC 8200 §4.1: Hop-by-Hop Options must immediately follow the IPv6 header. */
export const IPV6_EXT_HOP_BY_HOP_NOT_FIRST = 2;
/** More extension headers than `IPV6_EXT_MAX_HEADERS` (a defence against long chains). */
export const IPV6_EXT_TOO_MANY = 3;
export const IPV6_EXT_MAX_HEADERS = 16;

/**
 * Walks an extension header chain without allocating. `reset(b, off, len,
 * firstNextHeader)` with `off` just after the fixed header; each `next()`
 * that returns true describes one extension header (`type`, `headerOffset`,
 * `headerLength`, `nextHeader`). When it returns false, either `error` is
 * set or `upperLayer`/`upperOffset` name what follows the chain: a transport
 * protocol, ESP, No Next Header (59), or — after a non-first fragment, whose
 * payload is not a header — the fragment's Next Header with
 * `nonFirstFragment` set. Never throws.
 */
export class Ipv6ExtensionIterator {
  type = 0;
  headerOffset = 0;
  headerLength = 0;
  nextHeader = 0;
  error = IPV6_EXT_OK;
  upperLayer = -1;
  upperOffset = 0;
  nonFirstFragment = false;
  private b: Uint8Array = new Uint8Array(0);
  private pos = 0;
  private end = 0;
  private pending = 0;
  private count = 0;
  private done = false;

  reset(b: Uint8Array, off: number, len: number, firstNextHeader: number): this {
    this.b = b;
    this.pos = off;
    this.end = Math.min(off + Math.max(len, 0), b.length);
    this.pending = firstNextHeader;
    this.count = 0;
    this.done = false;
    this.error = IPV6_EXT_OK;
    this.upperLayer = -1;
    this.upperOffset = off;
    this.nonFirstFragment = false;
    return this;
  }

  next(): boolean {
    if (this.done) return false;
    const t = this.pending;
    if (!isIpv6ExtensionHeader(t)) return this.finish(t, this.pos);
    if (t === IPV6_HOP_BY_HOP && this.count > 0) return this.fail(IPV6_EXT_HOP_BY_HOP_NOT_FIRST);
    if (this.count >= IPV6_EXT_MAX_HEADERS) return this.fail(IPV6_EXT_TOO_MANY);
    const b = this.b;
    const p = this.pos;
    if (p + 8 > this.end) return this.fail(IPV6_EXT_TRUNCATED);
    let l: number;
    if (t === IPV6_FRAGMENT) l = IPV6_FRAGMENT_HEADER_SIZE;
    // RFC 4302 §2.2: AH "Payload Len" counts 32-bit words minus 2.
    else if (t === IPV6_AUTHENTICATION) l = (b[p + 1]! + 2) << 2;
    // RFC 8200 §4.3/§4.4/§4.6: "Hdr Ext Len: ... in 8-octet units, not including the first 8 octets".
    else l = (b[p + 1]! + 1) << 3;
    if (p + l > this.end) return this.fail(IPV6_EXT_TRUNCATED);
    this.type = t;
    this.headerOffset = p;
    this.headerLength = l;
    this.nextHeader = b[p]!;
    this.pending = this.nextHeader;
    this.pos = p + l;
    this.count++;
    if (t === IPV6_FRAGMENT && (readU16(b, p + IPV6_FRAGMENT_OFFSET_OFFSET) & 0xfff8) !== 0) {
      // RFC 8200 §4.5: a non-first fragment carries no further headers to parse.
      this.nonFirstFragment = true;
      this.done = true;
      this.upperLayer = this.nextHeader;
      this.upperOffset = this.pos;
    }
    return true;
  }

  private finish(upper: number, at: number): false {
    this.done = true;
    this.upperLayer = upper;
    this.upperOffset = at;
    return false;
  }

  private fail(e: number): false {
    this.done = true;
    this.error = e;
    return false;
  }
}

/** One header of a chain, as `walkIpv6Extensions` reports it. */
export interface Ipv6ExtensionInfo {
  type: number;
  off: number;
  len: number;
  nextHeader: number;
}

/** What `walkIpv6Extensions` found after the chain. */
export interface Ipv6ExtensionWalk {
  error: number;
  upperLayer: number;
  upperOffset: number;
  nonFirstFragment: boolean;
}

/**
 * Convenience walker: calls `visit` per extension header (a callback returning
 * false stops the walk) and returns where the chain ended. Allocates one
 * result; use `Ipv6ExtensionIterator` on hot paths.
 */
export function walkIpv6Extensions(
  b: Uint8Array,
  off: number,
  len: number,
  firstNextHeader: number,
  visit?: (h: Ipv6ExtensionInfo) => boolean | undefined,
): Ipv6ExtensionWalk {
  const it = new Ipv6ExtensionIterator().reset(b, off, len, firstNextHeader);
  while (it.next()) {
    const go = visit?.({
      type: it.type,
      off: it.headerOffset,
      len: it.headerLength,
      nextHeader: it.nextHeader,
    });
    if (go === false) break;
  }
  return {
    error: it.error,
    upperLayer: it.upperLayer,
    upperOffset: it.upperOffset,
    nonFirstFragment: it.nonFirstFragment,
  };
}

/** Why an option walk stopped. */
export const IPV6_OPTIONS_OK = 0;
/** An option's length byte is missing or runs past the end of the header. */
export const IPV6_OPTIONS_MALFORMED = 1;

/**
 * Walks the TLV options of a Hop-by-Hop or Destination Options header (RFC
 * 8200 §4.2). `reset(b, headerOffset, headerLength)` takes the whole
 * extension header; Pad1 and PadN are skipped. Each `next()` that returns
 * true sets `type`, `optionOffset` (of the type byte), `dataOffset` and
 * `dataLength`; `action` holds the two high-order bits. Never throws.
 */
export class Ipv6OptionIterator {
  type = 0;
  optionOffset = 0;
  dataOffset = 0;
  dataLength = 0;
  error = IPV6_OPTIONS_OK;
  private b: Uint8Array = new Uint8Array(0);
  private pos = 0;
  private end = 0;

  reset(b: Uint8Array, headerOffset: number, headerLength: number): this {
    this.b = b;
    this.pos = headerOffset + IPV6_EXT_OPTIONS_OFFSET;
    this.end = Math.min(headerOffset + Math.max(headerLength, 0), b.length);
    this.error = IPV6_OPTIONS_OK;
    return this;
  }

  get action(): number {
    return ipv6OptionAction(this.type);
  }

  next(): boolean {
    const b = this.b;
    while (this.pos < this.end) {
      const t = b[this.pos]!;
      if (t === IPV6_OPTION_PAD1) {
        this.pos++;
        continue;
      }
      if (this.pos + 2 > this.end) return this.fail();
      const l = b[this.pos + 1]!;
      if (this.pos + 2 + l > this.end) return this.fail();
      const at = this.pos;
      this.pos += 2 + l;
      if (t === IPV6_OPTION_PADN) continue;
      this.type = t;
      this.optionOffset = at;
      this.dataOffset = at + 2;
      this.dataLength = l;
      return true;
    }
    return false;
  }

  private fail(): false {
    this.error = IPV6_OPTIONS_MALFORMED;
    this.pos = this.end;
    return false;
  }
}

/** The Fragment header (RFC 8200 §4.5). */
export class Ipv6FragmentHeader {
  constructor(
    readonly b: Uint8Array,
    readonly off: number,
  ) {}

  isValid(len: number): boolean {
    return (
      len >= IPV6_FRAGMENT_HEADER_SIZE &&
      this.off >= 0 &&
      this.off + IPV6_FRAGMENT_HEADER_SIZE <= this.b.length
    );
  }
  get nextHeader(): number {
    return this.b[this.off]!;
  }
  /** Offset in bytes (the field counts 8-octet units). */
  get fragmentOffset(): number {
    return readU16(this.b, this.off + IPV6_FRAGMENT_OFFSET_OFFSET) & 0xfff8;
  }
  /** The M flag: more fragments follow. */
  get more(): boolean {
    return (this.b[this.off + 3]! & 1) === 1;
  }
  /** Identification (32 bits). */
  get id(): number {
    return readU32(this.b, this.off + IPV6_FRAGMENT_ID_OFFSET);
  }
}

export interface Ipv6FragmentFields {
  nextHeader: number;
  /** In bytes, a multiple of 8. */
  fragmentOffset: number;
  more: boolean;
  id: number;
}

/** Writes the 8-byte Fragment header at `off`; returns 8. */
export function encodeIpv6Fragment(b: Uint8Array, off: number, f: Ipv6FragmentFields): number {
  b[off] = f.nextHeader;
  b[off + 1] = 0;
  writeU16(b, off + IPV6_FRAGMENT_OFFSET_OFFSET, (f.fragmentOffset & 0xfff8) | (f.more ? 1 : 0));
  writeU32(b, off + IPV6_FRAGMENT_ID_OFFSET, f.id);
  return IPV6_FRAGMENT_HEADER_SIZE;
}

/** The generic part of a Routing header (RFC 8200 §4.4). */
export class Ipv6RoutingHeader {
  constructor(
    readonly b: Uint8Array,
    readonly off: number,
  ) {}
  get nextHeader(): number {
    return this.b[this.off]!;
  }
  /** Header length in bytes. */
  get length(): number {
    return (this.b[this.off + IPV6_EXT_LENGTH_OFFSET]! + 1) << 3;
  }
  get routingType(): number {
    return this.b[this.off + IPV6_ROUTING_TYPE_OFFSET]!;
  }
  get segmentsLeft(): number {
    return this.b[this.off + IPV6_ROUTING_SEGMENTS_LEFT_OFFSET]!;
  }
}

/**
 * Writes a Hop-by-Hop or Destination Options header holding `options` (raw
 * TLVs), padded with Pad1/PadN to a multiple of 8 (RFC 8200 §4.2); returns
 * its length.
 */
export function encodeIpv6OptionsHeader(
  b: Uint8Array,
  off: number,
  nextHeader: number,
  options: Uint8Array,
): number {
  const len = (IPV6_EXT_OPTIONS_OFFSET + options.length + 7) & ~7;
  b[off] = nextHeader;
  b[off + 1] = (len >> 3) - 1;
  b.set(options, off + IPV6_EXT_OPTIONS_OFFSET);
  const pad = len - IPV6_EXT_OPTIONS_OFFSET - options.length;
  const p = off + IPV6_EXT_OPTIONS_OFFSET + options.length;
  if (pad === 1) b[p] = IPV6_OPTION_PAD1;
  else if (pad > 1) {
    b[p] = IPV6_OPTION_PADN;
    b[p + 1] = pad - 2;
    b.fill(0, p + 2, p + pad);
  }
  return len;
}
