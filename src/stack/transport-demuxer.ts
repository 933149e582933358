/**
 * Finds the transport endpoint for an inbound packet by its 4-tuple, in
 * nested maps (local port → local address → remote port → remote address) so
 * no key string is built per packet. Lookup order, most specific first:
 *   1. local address + port, remote address + port (a connected endpoint);
 *   2. any local address, remote address + port;
 *   3. local address + port, any remote (bound to one address);
 *   4. any local address, any remote (a wildcard listener).
 * Several endpoints may share an id with ReusePort (one is picked by a hash of
 * the 4-tuple, so a flow always reaches the same one) or ReuseAddress.
 */
import { Address } from "../tcpip/address.ts";
import { ErrPortInUse } from "../tcpip/errors.ts";
import type { NetworkProtocolNumber, NICID, TransportProtocolNumber } from "../tcpip/protocols.ts";
import type { PortFlags, TransportEndpoint, TransportEndpointId } from "./registration.ts";

interface Registered {
  ep: TransportEndpoint;
  nic: NICID;
  reusePort: boolean;
  reuseAddress: boolean;
}

/**
 * One key and its value, or a `Map` once a level holds several. Below the local port most levels
 * hold a single entry per connection (a server's connection from a client port of its own, a
 * client's local port), and a `Map` with one entry cost ~0.3 KiB of table (issue 10).
 */
class Single<K, V> {
  constructor(
    readonly k: K,
    readonly v: V,
  ) {}
}
type Small<K, V> = Single<K, V> | Map<K, V>;

function sget<K, V>(s: Small<K, V> | undefined, k: K): V | undefined {
  if (s === undefined) return undefined;
  if (s instanceof Single) return s.k === k ? s.v : undefined;
  return s.get(k);
}

/** `s` with `k` set to `v` (a new container when it grows from one entry to two). */
function sset<K, V>(s: Small<K, V> | undefined, k: K, v: V): Small<K, V> {
  if (s === undefined) return new Single(k, v);
  if (s instanceof Single) {
    if (s.k === k) return s.v === v ? s : new Single(k, v);
    return new Map([
      [s.k, s.v],
      [k, v],
    ]);
  }
  s.set(k, v);
  return s;
}

/** `s` without `k`, or undefined when nothing is left. */
function sdelete<K, V>(s: Small<K, V>, k: K): Small<K, V> | undefined {
  if (s instanceof Single) return s.k === k ? undefined : s;
  s.delete(k);
  if (s.size > 1) return s;
  for (const [k1, v1] of s) return new Single(k1, v1);
  return undefined;
}

function* sentries<K, V>(s: Small<K, V>): Generator<[K, V]> {
  if (s instanceof Single) yield [s.k, s.v];
  else yield* s;
}

type RemoteAddrMap = Small<string, Registered[]>;
type RemotePortMap = Small<number, RemoteAddrMap>;
type LocalAddrMap = Small<string, RemotePortMap>;
type PortMap = Map<number, LocalAddrMap>;

function keyOf(a: Address | undefined): string {
  return a && !a.isUnspecified ? a.key : "";
}

/** A 32-bit FNV-1a step over a latin1 key string and a port. */
function mix(h: number, key: string, port: number): number {
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  h = Math.imul(h ^ (port & 0xff), 0x01000193);
  return Math.imul(h ^ (port >>> 8), 0x01000193);
}

export class TransportDemuxer {
  private readonly tables = new Map<number, PortMap>();

  constructor(private readonly hashSeed: number) {}

  private table(netProto: NetworkProtocolNumber, transProto: TransportProtocolNumber, create: boolean) {
    const k = netProto * 256 + transProto;
    let t = this.tables.get(k);
    if (!t && create) {
      t = new Map();
      this.tables.set(k, t);
    }
    return t;
  }

  private group(t: PortMap, id: TransportEndpointId, create: boolean): Registered[] | undefined {
    const lk = keyOf(id.localAddress);
    const rk = keyOf(id.remoteAddress);
    const l = t.get(id.localPort);
    const rp = sget(l, lk);
    const ra = sget(rp, id.remotePort);
    const g = sget(ra, rk);
    if (g || !create) return g;
    const ng: Registered[] = [];
    // Innermost first: each level may become a new container that its parent must hold.
    t.set(id.localPort, sset(l, lk, sset(rp, id.remotePort, sset(ra, rk, ng))));
    return ng;
  }

  /**
   * Every registered endpoint once per (network protocol, transport protocol),
   * with the id it is registered under (for `ss`-like listings; not the hot path).
   */
  *entries(): Generator<{
    netProto: NetworkProtocolNumber;
    transProto: TransportProtocolNumber;
    id: TransportEndpointId;
    ep: TransportEndpoint;
  }> {
    for (const [k, t] of this.tables) {
      const netProto = Math.floor(k / 256);
      const transProto = k % 256;
      for (const [localPort, l] of t) {
        for (const [lk, rp] of sentries(l)) {
          for (const [remotePort, ra] of sentries(rp)) {
            for (const [rk, g] of sentries(ra)) {
              const id: TransportEndpointId = {
                localPort,
                localAddress: lk ? Address.fromKey(lk) : undefined,
                remotePort,
                remoteAddress: rk ? Address.fromKey(rk) : undefined,
              };
              for (const r of g) yield { netProto, transProto, id, ep: r.ep };
            }
          }
        }
      }
    }
  }

  /** Registers `ep` under `id` for every protocol in `netProtos`, or none (throws `ErrPortInUse`). */
  register(
    nic: NICID,
    netProtos: readonly NetworkProtocolNumber[],
    transProto: TransportProtocolNumber,
    id: TransportEndpointId,
    ep: TransportEndpoint,
    flags: PortFlags,
  ): void {
    const reg: Registered = { ep, nic, reusePort: !!flags.reusePort, reuseAddress: !!flags.reuseAddress };
    for (const np of netProtos) {
      const t = this.table(np, transProto, false);
      const g = t && this.group(t, id, false);
      if (!g) continue;
      for (const r of g) {
        if (r.ep === ep) continue;
        if (r.nic !== 0 && nic !== 0 && r.nic !== nic) continue;
        if (reg.reusePort && r.reusePort) continue;
        if (reg.reuseAddress && r.reuseAddress) continue;
        throw new ErrPortInUse();
      }
    }
    for (const np of netProtos) {
      const g = this.group(this.table(np, transProto, true)!, id, true)!;
      if (!g.some((r) => r.ep === ep)) g.push(reg);
    }
  }

  unregister(
    netProtos: readonly NetworkProtocolNumber[],
    transProto: TransportProtocolNumber,
    id: TransportEndpointId,
    ep: TransportEndpoint,
  ): void {
    for (const np of netProtos) {
      const t = this.table(np, transProto, false);
      if (!t) continue;
      const l = t.get(id.localPort);
      const lk = keyOf(id.localAddress);
      const rp = sget(l, lk);
      const ra = sget(rp, id.remotePort);
      const rk = keyOf(id.remoteAddress);
      const g = sget(ra, rk);
      if (!g) continue;
      const i = g.findIndex((r) => r.ep === ep);
      if (i === -1) continue;
      g.splice(i, 1);
      if (g.length > 0) continue;
      // Outermost last: each level shrinks (or goes) once its child went.
      const ra2 = sdelete(ra!, rk);
      const rp2 = ra2 ? sset(rp, id.remotePort, ra2) : sdelete(rp!, id.remotePort);
      const l2 = rp2 ? sset(l, lk, rp2) : sdelete(l!, lk);
      if (l2) t.set(id.localPort, l2);
      else t.delete(id.localPort);
    }
  }

  private pick(
    g: Registered[] | undefined,
    nic: NICID,
    localKey: string,
    localPort: number,
    remoteKey: string,
    remotePort: number,
  ): TransportEndpoint | undefined {
    if (!g || g.length === 0) return undefined;
    if (g.length === 1) {
      const r = g[0]!;
      return r.nic === 0 || r.nic === nic ? r.ep : undefined;
    }
    return this.pickAmong(g, nic, localKey, localPort, remoteKey, remotePort);
  }

  /**
   * `pick` of several endpoints. Apart so that `pick` holds no closure: JSC allocates the scope of a
   * function whose parameters a closure captures on every call, even when the closure is never made
   * (issue 10: one object per packet).
   */
  private pickAmong(
    g: Registered[],
    nic: NICID,
    localKey: string,
    localPort: number,
    remoteKey: string,
    remotePort: number,
  ): TransportEndpoint | undefined {
    // Prefer endpoints bound to this NIC (SO_BINDTODEVICE is more specific).
    let candidates = g.filter((r) => r.nic === nic);
    if (candidates.length === 0) candidates = g.filter((r) => r.nic === 0);
    if (candidates.length === 0) return undefined;
    if (candidates.length === 1 || !candidates[0]!.reusePort) return candidates[candidates.length - 1]!.ep;
    // ReusePort: a hash of the 4-tuple, so every packet of a flow reaches the same endpoint.
    let h = mix(this.hashSeed ^ 0x811c9dc5, localKey, localPort);
    h = mix(h, remoteKey, remotePort);
    return candidates[(h >>> 0) % candidates.length]!.ep;
  }

  /** The endpoint for an inbound packet, following the fallback order above. */
  find(
    netProto: NetworkProtocolNumber,
    transProto: TransportProtocolNumber,
    nic: NICID,
    localAddr: Address,
    localPort: number,
    remoteAddr: Address,
    remotePort: number,
  ): TransportEndpoint | undefined {
    const t = this.table(netProto, transProto, false);
    const l = t?.get(localPort);
    if (!l) return undefined;
    const lk = localAddr.key;
    const rk = remoteAddr.key;
    const exact = sget(l, lk);
    const any = sget(l, "");
    return (
      this.pick(sget(sget(exact, remotePort), rk), nic, lk, localPort, rk, remotePort) ??
      this.pick(sget(sget(any, remotePort), rk), nic, lk, localPort, rk, remotePort) ??
      this.pick(sget(sget(exact, 0), ""), nic, lk, localPort, rk, remotePort) ??
      this.pick(sget(sget(any, 0), ""), nic, lk, localPort, rk, remotePort)
    );
  }

  /**
   * Every endpoint that should see a multicast or broadcast datagram to
   * `localAddr:localPort` (Linux delivers such datagrams to all matching
   * sockets, which is what ReuseAddress on a multicast port is for).
   */
  findAll(
    netProto: NetworkProtocolNumber,
    transProto: TransportProtocolNumber,
    nic: NICID,
    localAddr: Address,
    localPort: number,
    remoteAddr: Address,
    remotePort: number,
  ): TransportEndpoint[] {
    const out: TransportEndpoint[] = [];
    const t = this.table(netProto, transProto, false);
    const l = t?.get(localPort);
    if (!l) return out;
    const exact = sget(l, localAddr.key);
    const any = sget(l, "");
    const groups = [
      sget(sget(exact, remotePort), remoteAddr.key),
      sget(sget(any, remotePort), remoteAddr.key),
      sget(sget(exact, 0), ""),
      sget(sget(any, 0), ""),
    ];
    for (const g of groups) {
      if (!g) continue;
      for (const r of g) if ((r.nic === 0 || r.nic === nic) && !out.includes(r.ep)) out.push(r.ep);
    }
    return out;
  }
}
