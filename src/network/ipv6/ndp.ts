/**
 * Neighbor Discovery (RFC 4861) and stateless address autoconfiguration
 * (RFC 4862) for one NIC. The neighbour state machine itself (INCOMPLETE,
 * REACHABLE, STALE, DELAY, PROBE) is the stack's shared neighbour cache
 * (`nic.neighbors`), which asks us to send solicitations through the
 * endpoint's `linkAddressResolver`; here we validate and answer NDP messages,
 * feed the cache, run Duplicate Address Detection, solicit routers, and learn
 * default routers, on-link prefixes, the link MTU and SLAAC addresses from
 * router advertisements. On links without link-layer addresses (TUN) none of
 * this runs: they need no resolution.
 */
import type { PacketBuffer } from "../../buffer/packet-buffer.ts";
import {
  encodeNdpLinkAddressOption,
  ICMPV6_NEIGHBOR_ADVERT,
  ICMPV6_NEIGHBOR_SOLICIT,
  ICMPV6_REDIRECT,
  ICMPV6_ROUTER_ADVERT,
  ICMPV6_ROUTER_SOLICIT,
  NDP_NA_OVERRIDE,
  NDP_NA_ROUTER,
  NDP_NA_SIZE,
  NDP_NA_SOLICITED,
  NDP_NS_SIZE,
  NDP_OPT_MTU,
  NDP_OPT_PREFIX_INFO,
  NDP_OPT_SOURCE_LINK_ADDRESS,
  NDP_OPT_TARGET_LINK_ADDRESS,
  NDP_OPTIONS_OK,
  NDP_PREFIX_INFO_SIZE,
  NDP_RA_SIZE,
  NDP_REDIRECT_SIZE,
  NDP_RS_SIZE,
  NdpOptionIterator,
  type NdpPrefixInformation,
  NdpRouterAdvert,
} from "../../header/icmpv6.ts";
import {
  addressFromPrefix,
  IPV6_MINIMUM_MTU,
  interfaceIdFromMac,
  isSolicitedNode,
  linkLocalFromMac,
  solicitedNodeAddress,
} from "../../header/ipv6.ts";
import type { NeighborTable, TransportPacketInfo } from "../../stack/registration.ts";
import { Address } from "../../tcpip/address.ts";
import type { Timer } from "../../tcpip/clock.ts";
import type { Route as TableRoute } from "../../tcpip/full-address.ts";
import type { LinkAddress } from "../../tcpip/link-address.ts";
import { IPV6_PROTOCOL_NUMBER } from "../../tcpip/protocols.ts";
import { Subnet } from "../../tcpip/subnet.ts";
import type { Ipv6Endpoint } from "./endpoint.ts";

/** RFC 4861 §10 host constants (ms). */
export const MAX_RTR_SOLICITATION_DELAY_MS = 1_000;
export const RTR_SOLICITATION_INTERVAL_MS = 4_000;
export const RETRANS_TIMER_MS = 1_000;
/** RFC 4861 §7.1: NDP messages must arrive with Hop Limit 255 (proof they were not forwarded). */
export const NDP_HOP_LIMIT = 255;
const INFINITE_LIFETIME = 0xffffffff;
/** RFC 3971 §5.3.2 Nonce option type, used by enhanced DAD (RFC 7527). */
const NDP_OPT_NONCE = 14;
/** How long a route learnt from a Redirect lives (RFC 4861 §8.3 leaves it open; like the path MTU aging). */
export const REDIRECT_LIFETIME_MS = 10 * 60_000;
/** RFC 4862 §5.5.3(e): the "2 hours" rule against lifetime-shortening attacks. */
const TWO_HOURS_MS = 2 * 3600_000;

/** Where an address under DAD came from: made here, or added by the user tentative or usable. */
type Origin = "linkLocal" | "slaac" | "tentative" | "manual";

interface Tentative {
  addr: Address;
  origin: Origin;
  /** Nonces of the probes sent (RFC 7527). */
  nonces: Uint8Array[];
  remaining: number;
  timer: Timer;
}

interface SlaacAddress {
  addr: Address;
  /** Stack clock time when the valid lifetime ends (Infinity for infinite). */
  validUntil: number;
  preferredUntil: number;
  timer: Timer | undefined;
  preferredTimer: Timer | undefined;
}

interface LearntRoute {
  route: TableRoute;
  timer: Timer | undefined;
}

export class Ndp {
  private readonly tentative = new Map<string, Tentative>();
  /** Addresses this layer assigned itself (link-local, SLAAC). */
  private readonly auto = new Set<string>();
  private readonly slaac = new Map<string, SlaacAddress>();
  private readonly routers = new Map<string, LearntRoute>();
  private readonly prefixes = new Map<string, LearntRoute>();
  private readonly redirects = new Map<string, LearntRoute>();
  /** Addresses whose solicited-node group we joined. */
  private readonly joined = new Set<string>();
  /** The key of the address being added by `addAuto` (its `addressAdded` callback is ours). */
  private adding: string | undefined;
  private rsTimer: Timer | undefined;
  /** One option walker, reused; `optionsAt`/`optionsLength` bound the options of the message being handled. */
  private readonly options = new NdpOptionIterator();
  private optionsAt = 0;
  private optionsLength = 0;
  private rsSent = 0;
  /** RetransTimer, updated by router advertisements (RFC 4861 §6.3.4). */
  retransTimerMs = RETRANS_TIMER_MS;
  /** BaseReachableTime from the last router advertisement (0 = not given). */
  baseReachableTimeMs = 0;

  constructor(private readonly ep: Ipv6Endpoint) {}

  private get stats() {
    return this.ep.stats.icmp.v6;
  }
  private get nic() {
    return this.ep.nic;
  }
  private get clock() {
    return this.ep.proto.stack.clock;
  }
  private get opts() {
    return this.ep.proto.opts;
  }
  private get neighbors(): NeighborTable | undefined {
    return this.nic.neighbors?.(IPV6_PROTOCOL_NUMBER);
  }

  private randomDelay(max: number): number {
    return this.ep.proto.stack.random.u32() % max;
  }

  private get stackExtras() {
    return this.ep.proto.stack;
  }

  /** The NIC came up: link-local address and DAD (RFC 4862 §5.3, §5.4), router solicitation (RFC 4861 §6.3.7). */
  enable(): void {
    for (const a of [...this.nic.addresses(IPV6_PROTOCOL_NUMBER)]) this.addressAdded(a.address, a.prefixLen);
    if (!this.ep.resolutionRequired) return;
    const mac = this.nic.linkAddress;
    if (this.opts.autoLinkLocal && mac.length === 6) {
      const ll = linkLocalFromMac(mac);
      if (!this.nic.addresses(IPV6_PROTOCOL_NUMBER).some((a) => a.address.equals(ll)))
        this.addAuto(ll, "linkLocal");
    }
    if (this.opts.handleRouterAdvertisements && this.opts.maxRouterSolicitations > 0 && !this.ep.forwarding) {
      this.rsSent = 0;
      // RFC 4861 §6.3.7: "delay the transmission for a random amount of time between 0 and MAX_RTR_SOLICITATION_DELAY".
      this.rsTimer = this.clock.afterFunc(this.randomDelay(MAX_RTR_SOLICITATION_DELAY_MS), () =>
        this.solicitRouters(),
      );
    }
  }

  disable(): void {
    this.rsTimer?.stop();
    this.rsTimer = undefined;
    for (const key of [...this.joined]) this.leaveSolicitedNode(Address.fromKey(key));
    for (const t of this.tentative.values()) t.timer.stop();
    this.tentative.clear();
    for (const [key, s] of this.slaac) {
      s.timer?.stop();
      s.preferredTimer?.stop();
      this.slaac.delete(key);
      this.removeAuto(s.addr);
    }
    for (const m of [this.routers, this.prefixes, this.redirects]) {
      for (const r of m.values()) {
        r.timer?.stop();
        this.stackExtras.removeRoute?.(r.route);
      }
      m.clear();
    }
  }

  /** Adds an address of our own making, tentative until DAD passes. */
  /**
   * RFC 4291 §2.7.1 / RFC 4862 §5.4.2: a node joins the solicited-node group
   * of each of its addresses, tentative ones included (before DAD probes), so
   * the stack and the link (multicast filters) know about it.
   */
  private joinSolicitedNode(addr: Address): void {
    if (this.joined.has(addr.key)) return;
    this.joined.add(addr.key);
    try {
      this.stackExtras.joinGroup?.(this.nic.id, IPV6_PROTOCOL_NUMBER, solicitedNodeAddress(addr));
    } catch {
      // The NIC is being removed.
    }
  }

  private leaveSolicitedNode(addr: Address): void {
    if (!this.joined.delete(addr.key)) return;
    try {
      this.stackExtras.leaveGroup?.(this.nic.id, IPV6_PROTOCOL_NUMBER, solicitedNodeAddress(addr));
    } catch {
      // The NIC is being removed.
    }
  }

  private addAuto(addr: Address, origin: Origin): void {
    this.auto.add(addr.key);
    this.joinSolicitedNode(addr);
    this.adding = addr.key;
    try {
      this.nic.addAddress?.(IPV6_PROTOCOL_NUMBER, addr, 64, true);
    } finally {
      this.adding = undefined;
    }
    this.startDad(addr, origin);
  }

  addressAdded(addr: Address, _prefixLen: number): void {
    if (addr.key === this.adding || !this.ep.enabled || addr.isMulticast) return;
    const tentative = !this.nic.hasAddress(addr);
    if (!this.ep.resolutionRequired) {
      // Links without link-layer addresses (TUN) have no NDP and so no DAD: the address is usable now.
      if (tentative) this.stackExtras.setAddressTentative?.(this.nic.id, addr, false);
      return;
    }
    this.joinSolicitedNode(addr);
    // RFC 4862 §5.4: "Duplicate Address Detection MUST be performed on all unicast addresses prior to
    // assigning them". Addresses added tentative wait for it; ones added usable are checked
    // optimistically (like RFC 4429) and removed if a duplicate shows up.
    this.startDad(addr, tentative ? "tentative" : "manual");
  }

  addressRemoved(addr: Address): void {
    this.auto.delete(addr.key);
    this.leaveSolicitedNode(addr);
    const t = this.tentative.get(addr.key);
    if (t) {
      t.timer.stop();
      this.tentative.delete(addr.key);
    }
  }

  /** Whether `group` is the solicited-node group of one of our addresses, tentative ones included (RFC 4862 §5.4.2). */
  ownsSolicitedNode(group: Address): boolean {
    const g = group.bytes;
    const match = (a: Address) => a.bytes[13] === g[13] && a.bytes[14] === g[14] && a.bytes[15] === g[15];
    for (const t of this.tentative.values()) if (match(t.addr)) return true;
    for (const a of this.nic.addresses(IPV6_PROTOCOL_NUMBER))
      if (a.address.is6 && match(a.address)) return true;
    return false;
  }

  isTentative(addr: Address): boolean {
    return this.tentative.has(addr.key);
  }

  // --- Duplicate Address Detection (RFC 4862 §5.4) ---

  private startDad(addr: Address, origin: Origin): void {
    if (addr.isMulticast || addr.isUnspecified || this.tentative.has(addr.key)) return;
    if (this.opts.dupAddrDetectTransmits <= 0) {
      this.dadSucceeded(addr, origin);
      return;
    }
    const t: Tentative = {
      addr,
      origin,
      remaining: this.opts.dupAddrDetectTransmits,
      nonces: [],
      // RFC 4862 §5.4.2: the first solicitation waits a random 0..MAX_RTR_SOLICITATION_DELAY.
      timer: this.clock.afterFunc(this.randomDelay(MAX_RTR_SOLICITATION_DELAY_MS), () => this.dadTick(t)),
    };
    this.tentative.set(addr.key, t);
  }

  private dadTick(t: Tentative): void {
    if (this.tentative.get(t.addr.key) !== t) return;
    if (t.remaining > 0) {
      t.remaining--;
      // RFC 4862 §5.4.2: NS from the unspecified address to the solicited-node group, target = tentative
      // address; with a Nonce option (RFC 7527 §4.1) so our own probe looped back is not a conflict.
      const nonce = new Uint8Array(6);
      for (let i = 0; i < 6; i++) nonce[i] = this.ep.proto.stack.random.u32() & 0xff;
      t.nonces.push(nonce);
      this.sendSolicitation(t.addr, Address.ANY_V6, undefined, nonce);
      t.timer.reset(this.retransTimerMs);
      return;
    }
    this.tentative.delete(t.addr.key);
    this.dadSucceeded(t.addr, t.origin);
  }

  /** RFC 4862 §5.4.5 reversed: no duplicate seen within RetransTimer of the last probe; the address is assigned. */
  private dadSucceeded(addr: Address, origin: Origin): void {
    if (origin !== "manual") this.stackExtras.setAddressTentative?.(this.nic.id, addr, false);
  }

  /** RFC 4862 §5.4.3/§5.4.4: another node uses or wants the tentative address; it is not assigned. */
  private dadConflict(t: Tentative): void {
    t.timer.stop();
    this.tentative.delete(t.addr.key);
    this.stats.dadConflicts++;
    for (const [k, s] of this.slaac) {
      if (!s.addr.equals(t.addr)) continue;
      s.timer?.stop();
      s.preferredTimer?.stop();
      this.slaac.delete(k);
    }
    this.removeAuto(t.addr);
  }

  // --- Sending ---

  /** The endpoint's resolver: RFC 4861 §7.2.2 solicitation for `target` (unicast when `remote` is known). */
  sendNeighborSolicit(target: Address, local: Address | undefined, remote: LinkAddress | undefined): void {
    // "If the source address of the packet prompting the solicitation is the same as one of the
    // addresses assigned to the outgoing interface, that address SHOULD be placed in the IP Source
    // Address of the outgoing solicitation. Otherwise, any one of the addresses assigned".
    const src = local && this.nic.hasAddress(local) ? local : this.ep.icmp.sourceFor(target);
    if (!src) return;
    this.sendSolicitation(target, src, remote);
  }

  private sendSolicitation(
    target: Address,
    src: Address,
    remote: LinkAddress | undefined,
    nonce?: Uint8Array,
  ): void {
    const dst = remote ? target : solicitedNodeAddress(target);
    // RFC 4861 §4.3: the source link-layer address option is left out when the source is unspecified.
    const mac = this.nic.linkAddress;
    const withOpt = !src.isUnspecified && mac.length > 0;
    const optLen = (withOpt ? Math.ceil((2 + mac.length) / 8) * 8 : 0) + (nonce ? 8 : 0);
    const pkt = this.ep.icmp.build(src, dst, NDP_HOP_LIMIT, NDP_NS_SIZE + optLen, (b, off) => {
      b[off] = ICMPV6_NEIGHBOR_SOLICIT;
      b.set(target.bytes, off + 8);
      let o = off + NDP_NS_SIZE;
      if (withOpt) o += encodeNdpLinkAddressOption(b, o, NDP_OPT_SOURCE_LINK_ADDRESS, mac);
      if (nonce) {
        b[o] = NDP_OPT_NONCE;
        b[o + 1] = 1;
        b.set(nonce, o + 2);
      }
    });
    this.stats.neighborSolicit.sent++;
    this.stats.packetsSent++;
    this.ep.sendToLink(pkt, dst, remote);
  }

  private ownNonce(t: Tentative, b: Uint8Array): boolean {
    const opts = this.walkOptions(b);
    while (opts.next()) {
      if (opts.type !== NDP_OPT_NONCE || opts.length !== 8) continue;
      const o = opts.optionOffset + 2;
      if (t.nonces.some((x) => x.every((v, i) => v === b[o + i]))) return true;
    }
    return false;
  }

  /** RFC 4861 §7.2.4: an advertisement for our `target`. */
  private sendNeighborAdvert(
    target: Address,
    dst: Address,
    solicited: boolean,
    linkDst: LinkAddress | undefined,
  ): void {
    const mac = this.nic.linkAddress;
    const optLen = mac.length > 0 ? Math.ceil((2 + mac.length) / 8) * 8 : 0;
    let flags = NDP_NA_OVERRIDE;
    if (solicited) flags |= NDP_NA_SOLICITED;
    if (this.ep.forwarding) flags |= NDP_NA_ROUTER;
    const pkt = this.ep.icmp.build(target, dst, NDP_HOP_LIMIT, NDP_NA_SIZE + optLen, (b, off) => {
      b[off] = ICMPV6_NEIGHBOR_ADVERT;
      b[off + 4] = flags;
      b.set(target.bytes, off + 8);
      if (optLen > 0) encodeNdpLinkAddressOption(b, off + NDP_NA_SIZE, NDP_OPT_TARGET_LINK_ADDRESS, mac);
    });
    this.stats.neighborAdvert.sent++;
    this.stats.packetsSent++;
    if (dst.isMulticast || linkDst) this.ep.sendToLink(pkt, dst, linkDst);
    else this.ep.send(pkt, dst, target);
  }

  /** RFC 4861 §6.3.7: up to MAX_RTR_SOLICITATIONS, RTR_SOLICITATION_INTERVAL apart, until an RA arrives. */
  private solicitRouters(): void {
    this.rsTimer = undefined;
    if (this.rsSent >= this.opts.maxRouterSolicitations) return;
    this.rsSent++;
    const mac = this.nic.linkAddress;
    const ll = linkLocalFromMacOrUndefined(mac);
    // The source is a link-local address once assigned, else unspecified (then with no SLLA option).
    const src =
      ll && this.nic.hasAddress(ll)
        ? ll
        : (this.nic.addresses(IPV6_PROTOCOL_NUMBER).find((a) => a.address.isLinkLocalUnicast)?.address ??
          Address.ANY_V6);
    const withOpt = !src.isUnspecified && mac.length > 0;
    const optLen = withOpt ? Math.ceil((2 + mac.length) / 8) * 8 : 0;
    const dst = Address.ALL_ROUTERS_V6;
    const pkt = this.ep.icmp.build(src, dst, NDP_HOP_LIMIT, NDP_RS_SIZE + optLen, (b, off) => {
      b[off] = ICMPV6_ROUTER_SOLICIT;
      if (withOpt) encodeNdpLinkAddressOption(b, off + NDP_RS_SIZE, NDP_OPT_SOURCE_LINK_ADDRESS, mac);
    });
    this.stats.routerSolicit.sent++;
    this.stats.packetsSent++;
    this.ep.sendToLink(pkt, dst, undefined);
    if (this.rsSent < this.opts.maxRouterSolicitations) {
      this.rsTimer = this.clock.afterFunc(RTR_SOLICITATION_INTERVAL_MS, () => this.solicitRouters());
    }
  }

  // --- Receiving ---

  handlePacket(pkt: PacketBuffer, _net: number, info: TransportPacketInfo, type: number): void {
    const st = this.stats;
    const b = pkt.data;
    const off = pkt.head;
    const len = pkt.size;
    const min =
      type === ICMPV6_REDIRECT
        ? NDP_REDIRECT_SIZE
        : type === ICMPV6_NEIGHBOR_SOLICIT
          ? NDP_NS_SIZE
          : type === ICMPV6_NEIGHBOR_ADVERT
            ? NDP_NA_SIZE
            : type === ICMPV6_ROUTER_ADVERT
              ? NDP_RA_SIZE
              : NDP_RS_SIZE;
    // RFC 4861 §6.1, §7.1: Hop Limit 255, ICMP Code 0, length at least the fixed part, options of nonzero length.
    if (
      info.ttl !== NDP_HOP_LIMIT ||
      b[off + 1] !== 0 ||
      len < min ||
      !this.optionsValid(b, off + min, len - min)
    ) {
      st.malformedReceived++;
      return;
    }
    this.optionsAt = off + min;
    this.optionsLength = len - min;
    switch (type) {
      case ICMPV6_NEIGHBOR_SOLICIT:
        st.neighborSolicit.received++;
        this.handleSolicit(pkt, info);
        return;
      case ICMPV6_NEIGHBOR_ADVERT:
        st.neighborAdvert.received++;
        this.handleAdvert(pkt, info);
        return;
      case ICMPV6_ROUTER_SOLICIT:
        // RFC 4861 §6.2.6 is for routers; hosts silently discard solicitations.
        st.routerSolicit.received++;
        return;
      case ICMPV6_REDIRECT:
        st.redirect.received++;
        this.handleRedirect(pkt, info);
        return;
      default:
        st.routerAdvert.received++;
        this.handleRouterAdvert(pkt, info);
    }
  }

  /** Whether every option in `b[off, off + len)` is well formed (RFC 4861 §4.6: no zero length, none running past the end). */
  private optionsValid(b: Uint8Array, off: number, len: number): boolean {
    const it = this.options.reset(b, off, len);
    while (it.next());
    return it.error === NDP_OPTIONS_OK;
  }

  /** The options of the message being handled, from the first (validated by `handlePacket`). */
  private walkOptions(b: Uint8Array): NdpOptionIterator {
    return this.options.reset(b, this.optionsAt, this.optionsLength);
  }

  /** The first option of `type` as a link-layer address (RFC 4861 §4.6.1). */
  private linkOption(b: Uint8Array, type: number): LinkAddress | undefined {
    const size = this.nic.linkAddress.length || 6;
    const opts = this.walkOptions(b);
    while (opts.next()) if (opts.type === type) return opts.linkAddress(size);
    return undefined;
  }

  /** RFC 4861 §7.1.1 validation and §7.2.3 processing of a Neighbor Solicitation. */
  private handleSolicit(pkt: PacketBuffer, info: TransportPacketInfo): void {
    const b = pkt.data;
    const off = pkt.head;
    const target = Address.fromBytes(b, off + 8, 16);
    const slla = this.linkOption(b, NDP_OPT_SOURCE_LINK_ADDRESS);
    const fromUnspecified = info.src.isUnspecified;
    // "Target Address is not a multicast address"; "If the IP source address is the unspecified
    // address, the IP destination address is a solicited-node multicast address" and "there is no
    // source link-layer address option in the message".
    if (target.isMulticast || (fromUnspecified && (!isSolicitedNode(info.dst) || slla))) {
      this.stats.malformedReceived++;
      return;
    }
    const t = this.tentative.get(target.key);
    if (t) {
      // RFC 4862 §5.4.3: a solicitation from the unspecified address for our tentative address
      // means another node is doing DAD for it; other solicitations for it are ignored.
      // RFC 7527 §4.2: a probe carrying one of our nonces is our own, looped back by the link.
      if (fromUnspecified && !this.ownNonce(t, b)) this.dadConflict(t);
      return;
    }
    if (!this.nic.hasAddress(target)) return;
    if (fromUnspecified) {
      // RFC 4861 §7.2.4: answer a DAD probe to all-nodes, Solicited flag clear.
      this.sendNeighborAdvert(target, Address.ALL_NODES_V6, false, undefined);
      return;
    }
    if (slla) this.neighbors?.handleProbe(info.src, slla);
    this.sendNeighborAdvert(target, info.src, true, slla);
  }

  /** RFC 4861 §7.1.2 validation and §7.2.5 processing of a Neighbor Advertisement. */
  private handleAdvert(pkt: PacketBuffer, info: TransportPacketInfo): void {
    const b = pkt.data;
    const off = pkt.head;
    const flags = b[off + 4]!;
    const target = Address.fromBytes(b, off + 8, 16);
    const solicited = (flags & NDP_NA_SOLICITED) !== 0;
    // "Target Address is not a multicast address"; "If the IP Destination Address is a multicast
    // address the Solicited flag is zero."
    if (target.isMulticast || (info.dst.isMulticast && solicited)) {
      this.stats.malformedReceived++;
      return;
    }
    const t = this.tentative.get(target.key);
    if (t) {
      // RFC 4862 §5.4.4: an advertisement for a tentative address: it is a duplicate.
      this.dadConflict(t);
      return;
    }
    // An advertisement for an address we own is another node's mistake; we keep ours.
    if (this.nic.hasAddress(target)) return;
    const tlla = this.linkOption(b, NDP_OPT_TARGET_LINK_ADDRESS);
    this.neighbors?.handleConfirmation(target, tlla, {
      solicited,
      override: (flags & NDP_NA_OVERRIDE) !== 0,
      isRouter: (flags & NDP_NA_ROUTER) !== 0,
    });
  }

  /** RFC 4861 §6.1.2 validation and §6.3.4 processing of a Router Advertisement; SLAAC per RFC 4862 §5.5.3. */
  private handleRouterAdvert(pkt: PacketBuffer, info: TransportPacketInfo): void {
    // "IP Source Address is a link-local address. Routers must use their link-local address as the source".
    if (!info.src.isLinkLocalUnicast) {
      this.stats.malformedReceived++;
      return;
    }
    if (!this.opts.handleRouterAdvertisements || this.ep.forwarding) return;
    // RFC 4861 §6.3.7: stop soliciting once an advertisement arrived.
    this.rsTimer?.stop();
    this.rsTimer = undefined;
    const b = pkt.data;
    const ra = new NdpRouterAdvert(b, pkt.head);
    const curHopLimit = ra.curHopLimit;
    if (curHopLimit !== 0) this.ep.hopLimit = curHopLimit;
    const lifetime = ra.routerLifetime;
    const reachable = ra.reachableTime;
    const retrans = ra.retransTimer;
    // RFC 4861 §6.3.4: nonzero Reachable Time and Retrans Timer replace ours (and the neighbour cache's).
    const cache = this.neighbors as
      | (NeighborTable & { setBaseReachableTime?(ms: number): void; config?: { retransmitTimerMs: number } })
      | undefined;
    if (reachable !== 0 && reachable !== this.baseReachableTimeMs) {
      this.baseReachableTimeMs = reachable;
      cache?.setBaseReachableTime?.(reachable);
    }
    if (retrans !== 0) {
      this.retransTimerMs = retrans;
      if (cache?.config) cache.config.retransmitTimerMs = retrans;
    }

    const opts = this.walkOptions(b);
    while (opts.next()) {
      switch (opts.type) {
        case NDP_OPT_SOURCE_LINK_ADDRESS: {
          const la = opts.linkAddress(this.nic.linkAddress.length || 6);
          if (la) this.neighbors?.handleProbe(info.src, la);
          break;
        }
        case NDP_OPT_MTU: {
          const mtu = opts.mtu();
          if (mtu < 0) break;
          // "hosts SHOULD copy the option's value into LinkMTU so long as the value is greater than or
          // equal to the minimum link MTU [IPv6] and does not exceed the maximum LinkMTU value".
          if (mtu >= IPV6_MINIMUM_MTU && mtu <= this.nic.mtu) this.ep.linkMtu = mtu;
          break;
        }
        case NDP_OPT_PREFIX_INFO:
          // RFC 4861 §4.6.2: Length 4.
          if (opts.length === NDP_PREFIX_INFO_SIZE) this.handlePrefix(opts.prefixInformation());
          break;
        default:
        // RFC 4861 §4.6: "Receivers MUST silently ignore any options they do not recognize".
      }
    }

    // Default Router List (§6.3.4): lifetime 0 removes the router.
    this.learn(this.routers, info.src.key, lifetime * 1000, () => ({
      destination: Subnet.fromPrefix(Address.ANY_V6, 0),
      gateway: info.src,
      nic: this.nic.id,
    }));
  }

  /**
   * RFC 4861 §8.1 validation and §8.3 processing of a Redirect: the first-hop
   * router tells us a better next hop (`target`) for `destination`. We keep it
   * as a host route for REDIRECT_LIFETIME_MS (Linux also ages redirected routes).
   */
  private handleRedirect(pkt: PacketBuffer, info: TransportPacketInfo): void {
    if (this.ep.forwarding) return;
    const b = pkt.data;
    const off = pkt.head;
    const target = Address.fromBytes(b, off + 8, 16);
    const destination = Address.fromBytes(b, off + 24, 16);
    const onLink = target.equals(destination);
    // "IP Source Address is a link-local address"; "The ICMP Destination Address field in the redirect
    // message does not contain a multicast address"; "The ICMP Target Address is either a link-local
    // address (when redirected to a router) or the same as the ICMP Destination Address".
    if (!info.src.isLinkLocalUnicast || destination.isMulticast || !(target.isLinkLocalUnicast || onLink)) {
      this.stats.malformedReceived++;
      return;
    }
    // "The IP source address of the Redirect is the same as the current first-hop router for the
    // specified ICMP Destination Address."
    let firstHop: Address | undefined;
    try {
      const r = this.ep.proto.stack.findRoute(this.nic.id, undefined, destination, IPV6_PROTOCOL_NUMBER);
      firstHop = r.nextHop;
      r.release();
    } catch {
      firstHop = undefined;
    }
    if (!firstHop?.equals(info.src)) {
      this.stats.malformedReceived++;
      return;
    }
    // §8.3: a Target Link-Layer Address option updates (or creates) the target's cache entry.
    const tlla = this.linkOption(b, NDP_OPT_TARGET_LINK_ADDRESS);
    if (tlla) this.neighbors?.handleProbe(target, tlla);
    this.learn(this.redirects, destination.key, REDIRECT_LIFETIME_MS, () =>
      onLink
        ? { destination: Subnet.fromPrefix(destination, 128), nic: this.nic.id }
        : { destination: Subnet.fromPrefix(destination, 128), gateway: target, nic: this.nic.id },
    );
  }

  /** Adds or refreshes a learnt route with its lifetime (ms; 0 removes it, Infinity never expires). */
  private learn(m: Map<string, LearntRoute>, key: string, lifetimeMs: number, make: () => TableRoute): void {
    const cur = m.get(key);
    if (lifetimeMs === 0) {
      if (!cur) return;
      cur.timer?.stop();
      m.delete(key);
      this.stackExtras.removeRoute?.(cur.route);
      return;
    }
    const expire = (e: LearntRoute) => () => {
      if (m.get(key) !== e) return;
      m.delete(key);
      this.stackExtras.removeRoute?.(e.route);
    };
    if (cur) {
      cur.timer?.stop();
      cur.timer = Number.isFinite(lifetimeMs) ? this.clock.afterFunc(lifetimeMs, expire(cur)) : undefined;
      return;
    }
    const e: LearntRoute = { route: make(), timer: undefined };
    if (Number.isFinite(lifetimeMs)) e.timer = this.clock.afterFunc(lifetimeMs, expire(e));
    m.set(key, e);
    this.stackExtras.addRoute?.(e.route);
  }

  /** A Prefix Information option (RFC 4861 §4.6.2) at `o`. */
  private handlePrefix(pi: NdpPrefixInformation): void {
    const prefixLen = pi.prefixLength;
    const valid = pi.validLifetime;
    const preferred = pi.preferredLifetime;
    if (prefixLen > 128) return;
    const prefix = pi.prefix();
    const subnet = Subnet.fromPrefix(prefix, prefixLen);
    // RFC 4861 §6.3.4 / RFC 4862 §5.5.3(b): "If the prefix is the link-local prefix, silently ignore".
    if (subnet.id.isLinkLocalUnicast) return;
    const validMs = valid === INFINITE_LIFETIME ? Number.POSITIVE_INFINITY : valid * 1000;
    const preferredMs = preferred === INFINITE_LIFETIME ? Number.POSITIVE_INFINITY : preferred * 1000;
    if (pi.onLink) {
      this.learn(this.prefixes, subnet.toString(), validMs, () => ({
        destination: subnet,
        nic: this.nic.id,
      }));
    }
    if (pi.autonomous && this.opts.autoGenerateAddresses) {
      this.autoconfigure(subnet, validMs, preferredMs);
    }
  }

  /** RFC 4862 §5.5.3 (c)–(e). */
  private autoconfigure(subnet: Subnet, validMs: number, preferredMs: number): void {
    // (c) "If the preferred lifetime is greater than the valid lifetime, silently ignore the Prefix Information option."
    if (preferredMs > validMs) return;
    const key = subnet.toString();
    const now = this.clock.now();
    const cur = this.slaac.get(key);
    if (!cur) {
      // (d) a new prefix with a nonzero valid lifetime; the prefix and our 64-bit interface
      // identifier must make 128 bits, else the option is ignored.
      const mac = this.nic.linkAddress;
      if (validMs === 0 || subnet.prefix !== 64 || mac.length !== 6) return;
      const addr = addressFromPrefix(subnet.id, interfaceIdFromMac(mac));
      if (this.nic.addresses(IPV6_PROTOCOL_NUMBER).some((a) => a.address.equals(addr))) return;
      const s: SlaacAddress = {
        addr,
        validUntil: now + validMs,
        preferredUntil: now + preferredMs,
        timer: undefined,
        preferredTimer: undefined,
      };
      this.slaac.set(key, s);
      this.armValid(key, s);
      this.addAuto(addr, "slaac");
      this.armPreferred(s);
      return;
    }
    // (e) an address we formed from this prefix: reset the preferred lifetime; the valid lifetime
    // only per the two-hour rule, so a forged RA cannot make the address expire quickly.
    cur.preferredUntil = now + preferredMs;
    this.armPreferred(cur);
    const remaining = cur.validUntil - now;
    if (validMs > TWO_HOURS_MS || validMs > remaining) cur.validUntil = now + validMs;
    else if (remaining <= TWO_HOURS_MS) return;
    else cur.validUntil = now + TWO_HOURS_MS;
    this.armValid(key, cur);
  }

  /**
   * RFC 4862 §5.5.4: when the preferred lifetime ends the address becomes
   * deprecated (still valid, avoided as a source: RFC 6724 rule 3). The stack's
   * address entries carry the `deprecated` flag its source selection reads.
   */
  private armPreferred(s: SlaacAddress): void {
    s.preferredTimer?.stop();
    s.preferredTimer = undefined;
    const left = s.preferredUntil - this.clock.now();
    this.setDeprecated(s.addr, left <= 0);
    if (left > 0 && Number.isFinite(left)) {
      s.preferredTimer = this.clock.afterFunc(left, () => this.setDeprecated(s.addr, true));
    }
  }

  private setDeprecated(addr: Address, on: boolean): void {
    const e = this.nic.addresses(IPV6_PROTOCOL_NUMBER).find((a) => a.address.equals(addr)) as
      | { deprecated?: boolean }
      | undefined;
    if (e && "deprecated" in e) e.deprecated = on;
  }

  /** Whether `addr`, one of our SLAAC addresses, is past its preferred lifetime. */
  isDeprecated(addr: Address): boolean {
    for (const s of this.slaac.values()) if (s.addr.equals(addr)) return s.preferredUntil <= this.clock.now();
    return false;
  }

  private armValid(key: string, s: SlaacAddress): void {
    s.timer?.stop();
    s.timer = undefined;
    if (!Number.isFinite(s.validUntil)) return;
    s.timer = this.clock.afterFunc(s.validUntil - this.clock.now(), () => {
      if (this.slaac.get(key) !== s) return;
      // RFC 4862 §5.5.4: an address whose valid lifetime ends is removed from the interface.
      this.slaac.delete(key);
      s.preferredTimer?.stop();
      this.removeAuto(s.addr);
    });
  }

  private removeAuto(addr: Address): void {
    this.auto.delete(addr.key);
    const t = this.tentative.get(addr.key);
    if (t) {
      t.timer.stop();
      this.tentative.delete(addr.key);
    }
    this.nic.removeAddress?.(addr);
  }

  /** SLAAC addresses and their state, for tests and status output. */
  slaacAddresses(): { address: Address; validUntil: number; preferredUntil: number; tentative: boolean }[] {
    return [...this.slaac.values()].map((s) => ({
      address: s.addr,
      validUntil: s.validUntil,
      preferredUntil: s.preferredUntil,
      tentative: this.tentative.has(s.addr.key),
    }));
  }

  /** Default routers learnt from advertisements. */
  defaultRouters(): Address[] {
    return [...this.routers.values()].flatMap((r) => (r.route.gateway ? [r.route.gateway] : []));
  }
}

function linkLocalFromMacOrUndefined(mac: LinkAddress): Address | undefined {
  return mac.length === 6 ? linkLocalFromMac(mac) : undefined;
}
