/**
 * Port reservations for transport endpoints (the seed's `ports` package).
 *
 * A reservation is (network protocols, transport protocol, local address,
 * port, flags, and for connected endpoints the remote end). Keys are numbers
 * and strings (`Address.key`), never objects (STYLE principle 12).
 *
 * ## When two reservations conflict
 *
 * Two reservations of the same transport protocol and port, in the same
 * network protocol, conflict when their local addresses overlap and none of
 * the sharing rules below applies. Addresses overlap when they are equal or
 * either one is the wildcard (`undefined`, 0.0.0.0 or ::): binding
 * 0.0.0.0:80 conflicts with 198.18.0.2:80 and the other way round, as in
 * Linux and BSD.
 *
 * They may share the port when, for that pair:
 * 1. **ReusePort** (Linux SO_REUSEPORT): both set `reusePort`. Every binder
 *    must set it, the first one included; the demux spreads packets among them.
 * 2. **ReuseAddress** (Linux SO_REUSEADDR): both set `reuseAddress`. This is
 *    what lets a restarted server bind its port while connections from its
 *    previous life still hold it in TIME-WAIT (RFC 9293 §3.6.1), and lets
 *    several UDP sockets bind one port. Linux also refuses this sharing
 *    when the other socket is in LISTEN; the port manager does not know
 *    endpoint states, so that check belongs to the transport: two listeners
 *    on one (address, port) collide when they register with the demux.
 * 3. **Distinct 4-tuples**: both are connected reservations (made with a
 *    `remote`) and their remotes differ. A connected endpoint is told apart
 *    by its whole 4-tuple, so outgoing connections to different peers can
 *    share a local port, as Linux's connect() does. A connected reservation
 *    still conflicts with an unconnected (bound or listening) one.
 *
 * ## Dual stack
 *
 * `netProtos` lists the network protocols the endpoint receives on: `[IPv4]`,
 * `[IPv6]`, or `[IPv4, IPv6]` for a dual-stack IPv6 endpoint. The port is
 * reserved in each, all or nothing. In the IPv6 space an IPv4 address is
 * kept as ::ffff:a.b.c.d and in the IPv4 space an IPv4-mapped address as
 * a.b.c.d, so the two spellings of one address collide.
 *
 * ## Ephemeral ports
 *
 * Port 0 asks for an ephemeral port chosen per RFC 6056 §3.3.3 (Algorithm 3,
 * "Simple Hash-Based Port Selection"): `offset = F(local address, remote
 * address, remote port, secret key)` with F a keyed HalfSipHash, and the
 * candidates `first + (offset + nextEphemeral) % count`, where the global
 * `nextEphemeral` grows by one per candidate tried. Connections to different
 * peers walk the range from unrelated places, and successive connections to
 * the same peer get successive ports. When picking, reuse flags are ignored:
 * an ephemeral port is never shared with a bound one (rule 3 still lets
 * connected reservations share it).
 */
import type { Address } from "../tcpip/address.ts";
import {
  ErrInvalidOptionValue,
  ErrNoPortAvailable,
  ErrPortInUse,
  ErrUnknownProtocol,
} from "../tcpip/errors.ts";
import type { NetworkProtocolNumber, TransportProtocolNumber } from "../tcpip/protocols.ts";
import { IPV4_PROTOCOL_NUMBER } from "../tcpip/protocols.ts";
import { CryptoRandom, type Random } from "../tcpip/random.ts";
import { halfSipHash24 } from "./halfsiphash.ts";

/** The seed's first ephemeral port; the range runs to 65535. */
export const DEFAULT_FIRST_EPHEMERAL = 16000;
export const DEFAULT_LAST_EPHEMERAL = 65535;

/** Reuse flags of a reservation (the same shape as `PortFlags` in `stack/registration.ts`). */
export interface ReuseFlags {
  reuseAddress?: boolean;
  reusePort?: boolean;
}

/** The remote end of a connected endpoint. */
export interface RemoteEnd {
  addr: Address;
  port: number;
}

export interface EphemeralRange {
  first: number;
  last: number;
}

export interface PortManagerOptions {
  /** Seeds the secret of the port hash (tests pass a `SeededRandom`). Default: Web Crypto. */
  random?: Random;
  /** Default 16000–65535, like the seed. Linux uses 32768–60999. */
  range?: EphemeralRange;
}

/** One reservation or several identical ones (same address, flags and remote). */
interface Holder {
  readonly reuseAddress: boolean;
  readonly reusePort: boolean;
  /** "" for an unconnected reservation. */
  readonly remote: string;
  count: number;
}

/** The key of the wildcard address. */
const ANY = "";

const NO_FLAGS: ReuseFlags = {};

/**
 * Local address key → holders, for one port. Most ports are held on one address (an outgoing
 * connection's ephemeral port), so the first address lives in two fields and a `Map` is made only
 * for a second: a one-entry `Map`'s table cost ~0.4 KiB per outgoing connection (issue 10).
 */
class ByAddr {
  private k = ANY;
  private v: Holder[] | undefined;
  private more: Map<string, Holder[]> | undefined;

  get(k: string): Holder[] | undefined {
    if (this.more) return this.more.get(k);
    return this.v !== undefined && this.k === k ? this.v : undefined;
  }

  set(k: string, v: Holder[]): void {
    if (this.more) this.more.set(k, v);
    else if (this.v === undefined || this.k === k) {
      this.k = k;
      this.v = v;
    } else {
      this.more = new Map([
        [this.k, this.v],
        [k, v],
      ]);
      this.v = undefined;
    }
  }

  delete(k: string): void {
    if (this.more) this.more.delete(k);
    else if (this.v !== undefined && this.k === k) this.v = undefined;
  }

  get size(): number {
    return this.more ? this.more.size : this.v === undefined ? 0 : 1;
  }

  *values(): Generator<Holder[]> {
    if (this.more) yield* this.more.values();
    else if (this.v !== undefined) yield this.v;
  }
}

export class PortManager {
  /** (network protocol, transport protocol, port) → local address key → holders. */
  private readonly bindings = new Map<number, ByAddr>();
  private first: number;
  private last: number;
  /** RFC 6056 §3.3.3 `next_ephemeral`. */
  private nextEphemeral = 0;
  /** The 64-bit secret key of F. */
  private readonly k0: number;
  private readonly k1: number;
  /** Scratch for the hash input: local (16) + remote (16) address, remote port (2), transport protocol (1). */
  private readonly hashInput = new Uint8Array(35);

  constructor(opts: PortManagerOptions = {}) {
    const random = opts.random ?? new CryptoRandom();
    this.k0 = random.u32();
    this.k1 = random.u32();
    const r = opts.range ?? { first: DEFAULT_FIRST_EPHEMERAL, last: DEFAULT_LAST_EPHEMERAL };
    checkRange(r.first, r.last);
    this.first = r.first;
    this.last = r.last;
  }

  /** The ephemeral range, inclusive. */
  get ephemeralRange(): EphemeralRange {
    return { first: this.first, last: this.last };
  }

  /** Sets the ephemeral range, inclusive (like Linux's `ip_local_port_range`). Throws `ErrInvalidOptionValue` unless 1 ≤ first ≤ last ≤ 65535. */
  setEphemeralRange(first: number, last: number): void {
    checkRange(first, last);
    this.first = first;
    this.last = last;
  }

  /**
   * Reserves `port` (or, when `port` is 0, an ephemeral port) and returns it.
   * Throws `ErrPortInUse` when the port conflicts with a reservation (see the
   * module comment), `ErrNoPortAvailable` when no ephemeral port is free.
   */
  reservePort(
    netProtos: readonly NetworkProtocolNumber[],
    transProto: TransportProtocolNumber,
    addr: Address | undefined,
    port: number,
    flags: ReuseFlags = NO_FLAGS,
    remote?: RemoteEnd,
  ): number {
    checkArgs(netProtos, transProto, port);
    const rk = remote ? remoteKey(remote) : "";
    if (port !== 0) {
      if (!this.available(netProtos, transProto, addr, port, flags, rk)) throw new ErrPortInUse();
      this.add(netProtos, transProto, addr, port, flags, rk);
      return port;
    }
    const offset = this.portOffset(transProto, addr, remote);
    return this.pickEphemeralPortAt(offset, (p) => {
      if (!this.available(netProtos, transProto, addr, p, NO_FLAGS, rk)) return false;
      this.add(netProtos, transProto, addr, p, flags, rk);
      return true;
    });
  }

  /**
   * Releases one reservation made with the same arguments (the port as
   * returned by `reservePort`). Returns whether one was found; releasing what
   * was not reserved does nothing, as in the seed.
   */
  releasePort(
    netProtos: readonly NetworkProtocolNumber[],
    transProto: TransportProtocolNumber,
    addr: Address | undefined,
    port: number,
    flags: ReuseFlags = NO_FLAGS,
    remote?: RemoteEnd,
  ): boolean {
    const rk = remote ? remoteKey(remote) : "";
    const ra = flags.reuseAddress === true;
    const rp = flags.reusePort === true;
    let found = false;
    for (const np of netProtos) {
      const pk = portKey(np, transProto, port);
      const byAddr = this.bindings.get(pk);
      const ak = addrKey(np, addr);
      const holders = byAddr?.get(ak);
      if (!byAddr || !holders) continue;
      const i = holders.findIndex((h) => h.reuseAddress === ra && h.reusePort === rp && h.remote === rk);
      if (i === -1) continue;
      found = true;
      const h = holders[i]!;
      if (--h.count > 0) continue;
      holders.splice(i, 1);
      if (holders.length > 0) continue;
      byAddr.delete(ak);
      if (byAddr.size === 0) this.bindings.delete(pk);
    }
    return found;
  }

  /**
   * Whether `reservePort` with these arguments would succeed now. For port 0:
   * whether some ephemeral port is free.
   */
  isPortAvailable(
    netProtos: readonly NetworkProtocolNumber[],
    transProto: TransportProtocolNumber,
    addr: Address | undefined,
    port: number,
    flags: ReuseFlags = NO_FLAGS,
    remote?: RemoteEnd,
  ): boolean {
    checkArgs(netProtos, transProto, port);
    const rk = remote ? remoteKey(remote) : "";
    if (port !== 0) return this.available(netProtos, transProto, addr, port, flags, rk);
    for (let p = this.first; p <= this.last; p++) {
      if (this.available(netProtos, transProto, addr, p, NO_FLAGS, rk)) return true;
    }
    return false;
  }

  /**
   * Tries up to `count` ports of the ephemeral range, starting at index
   * `offset` and wrapping: `first + (offset + i) % size` for i = 0, 1, ….
   * Returns the first port for which `tryFn` returns true (`tryFn` reserves
   * it); throws `ErrNoPortAvailable` when none does. TCP uses this when the
   * whole 4-tuple must be unique, with its own `tryFn`.
   */
  pickEphemeralPort(offset: number, count: number, tryFn: (port: number) => boolean): number {
    const size = this.last - this.first + 1;
    const start = ((offset % size) + size) % size;
    const n = Math.min(count, size);
    for (let i = 0; i < n; i++) {
      const port = this.first + ((start + i) % size);
      if (tryFn(port)) return port;
    }
    throw new ErrNoPortAvailable();
  }

  /**
   * RFC 6056 §3.3.3 Algorithm 3 around `tryFn`: candidates start at
   * `offset + nextEphemeral`, and `nextEphemeral` grows by one per candidate
   * tried. `offset` is `portOffset(...)` for the connection.
   */
  pickEphemeralPortAt(offset: number, tryFn: (port: number) => boolean): number {
    const size = this.last - this.first + 1;
    const start = (offset % size) + (this.nextEphemeral % size);
    return this.pickEphemeralPort(start, size, (p) => {
      this.nextEphemeral = (this.nextEphemeral + 1) >>> 0;
      return tryFn(p);
    });
  }

  /**
   * RFC 6056 §3.3.3: `F(local_IP, remote_IP, remote_port, secret_key)`, here
   * also keyed by the transport protocol. Unknown parts (an unbound local
   * address, an unconnected endpoint) hash as zeros.
   */
  portOffset(transProto: TransportProtocolNumber, local: Address | undefined, remote?: RemoteEnd): number {
    const b = this.hashInput;
    b.fill(0);
    if (local) b.set(local.toV4Mapped().bytes, 0);
    if (remote) {
      b.set(remote.addr.toV4Mapped().bytes, 16);
      b[32] = remote.port >>> 8;
      b[33] = remote.port & 0xff;
    }
    b[34] = transProto;
    return halfSipHash24(b, b.length, this.k0, this.k1);
  }

  /** The number of reservations held, counted once per network protocol (a dual-stack one counts twice). */
  get size(): number {
    let n = 0;
    for (const byAddr of this.bindings.values())
      for (const holders of byAddr.values()) for (const h of holders) n += h.count;
    return n;
  }

  private available(
    netProtos: readonly NetworkProtocolNumber[],
    transProto: TransportProtocolNumber,
    addr: Address | undefined,
    port: number,
    flags: ReuseFlags,
    rk: string,
  ): boolean {
    const ra = flags.reuseAddress === true;
    const rp = flags.reusePort === true;
    for (const np of netProtos) {
      const byAddr = this.bindings.get(portKey(np, transProto, port));
      if (!byAddr) continue;
      const ak = addrKey(np, addr);
      if (ak === ANY) {
        // The wildcard overlaps every address bound on this port.
        for (const holders of byAddr.values()) if (conflicts(holders, ra, rp, rk)) return false;
      } else {
        const same = byAddr.get(ak);
        if (same && conflicts(same, ra, rp, rk)) return false;
        const any = byAddr.get(ANY);
        if (any && conflicts(any, ra, rp, rk)) return false;
      }
    }
    return true;
  }

  private add(
    netProtos: readonly NetworkProtocolNumber[],
    transProto: TransportProtocolNumber,
    addr: Address | undefined,
    port: number,
    flags: ReuseFlags,
    rk: string,
  ): void {
    const ra = flags.reuseAddress === true;
    const rp = flags.reusePort === true;
    for (const np of netProtos) {
      const pk = portKey(np, transProto, port);
      let byAddr = this.bindings.get(pk);
      if (!byAddr) {
        byAddr = new ByAddr();
        this.bindings.set(pk, byAddr);
      }
      const ak = addrKey(np, addr);
      let holders = byAddr.get(ak);
      if (!holders) {
        holders = [];
        byAddr.set(ak, holders);
      }
      const h = holders.find((x) => x.reuseAddress === ra && x.reusePort === rp && x.remote === rk);
      if (h) h.count++;
      else holders.push({ reuseAddress: ra, reusePort: rp, remote: rk, count: 1 });
    }
  }
}

/** Whether a new reservation with these flags and remote conflicts with any of `holders` (same port, overlapping address). */
function conflicts(holders: readonly Holder[], ra: boolean, rp: boolean, rk: string): boolean {
  for (const h of holders) {
    if (rp && h.reusePort) continue;
    if (ra && h.reuseAddress) continue;
    if (rk !== "" && h.remote !== "" && rk !== h.remote) continue;
    return true;
  }
  return false;
}

/** One number per (network protocol, transport protocol, port): EtherType < 2**16, protocol < 2**8, port < 2**16. */
function portKey(netProto: NetworkProtocolNumber, transProto: TransportProtocolNumber, port: number): number {
  return (netProto * 256 + transProto) * 65536 + port;
}

/** The address as a key in `netProto`'s space; "" for the wildcard. */
function addrKey(netProto: NetworkProtocolNumber, addr: Address | undefined): string {
  if (!addr || addr.isUnspecified) return ANY;
  if (netProto === IPV4_PROTOCOL_NUMBER) return (addr.to4() ?? addr).key;
  return addr.toV4Mapped().key;
}

function remoteKey(r: RemoteEnd): string {
  return `${r.addr.toV4Mapped().key}${String.fromCharCode(r.port >>> 8, r.port & 0xff)}`;
}

function checkRange(first: number, last: number): void {
  if (!Number.isInteger(first) || !Number.isInteger(last) || first < 1 || last > 65535 || first > last) {
    throw new ErrInvalidOptionValue();
  }
}

function checkArgs(
  netProtos: readonly NetworkProtocolNumber[],
  transProto: TransportProtocolNumber,
  port: number,
): void {
  if (netProtos.length === 0) throw new ErrUnknownProtocol();
  for (const np of netProtos) {
    if (!Number.isInteger(np) || np < 0 || np > 0xffff) throw new ErrUnknownProtocol();
  }
  if (!Number.isInteger(transProto) || transProto < 0 || transProto > 255) throw new ErrUnknownProtocol();
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ErrInvalidOptionValue();
}
