/**
 * Port reservations per (network protocol, transport protocol, port). A
 * reservation on the unspecified address (`undefined`) overlaps every address.
 * Two overlapping reservations coexist only when both set ReusePort, or both
 * set ReuseAddress (Linux SO_REUSEADDR semantics for datagram sockets).
 *
 * Ephemeral ports follow RFC 6056 §3.3.1 (Algorithm 1, "simple port
 * randomization"): a random starting point in the range, then a linear walk.
 */
import type { Address } from "../tcpip/address.ts";
import { ErrNoPortAvailable, ErrPortInUse } from "../tcpip/errors.ts";
import type { NetworkProtocolNumber, TransportProtocolNumber } from "../tcpip/protocols.ts";
import type { Random } from "../tcpip/random.ts";
import type { PortFlags } from "./registration.ts";

/** Linux's default `ip_local_port_range`. */
export const EPHEMERAL_FIRST = 32768;
export const EPHEMERAL_LAST = 60999;

interface Reservation {
  addrKey: string;
  reuseAddress: boolean;
  reusePort: boolean;
  count: number;
}

export class PortManager {
  private readonly table = new Map<string, Reservation[]>();

  constructor(
    private readonly random: Random,
    private readonly first = EPHEMERAL_FIRST,
    private readonly last = EPHEMERAL_LAST,
  ) {}

  private key(netProto: NetworkProtocolNumber, transProto: TransportProtocolNumber, port: number): string {
    return `${netProto}/${transProto}/${port}`;
  }

  /** Whether `port` can be reserved on every protocol of `netProtos`. */
  isAvailable(
    netProtos: readonly NetworkProtocolNumber[],
    transProto: TransportProtocolNumber,
    addr: Address | undefined,
    port: number,
    flags: PortFlags,
  ): boolean {
    const addrKey = addr && !addr.isUnspecified ? addr.key : "";
    for (const np of netProtos) {
      const rs = this.table.get(this.key(np, transProto, port));
      if (!rs) continue;
      for (const r of rs) {
        if (r.addrKey !== "" && addrKey !== "" && r.addrKey !== addrKey) continue;
        if (flags.reusePort && r.reusePort) continue;
        if (flags.reuseAddress && r.reuseAddress) continue;
        return false;
      }
    }
    return true;
  }

  /** Reserves `port` (0 picks an ephemeral one); returns the port. Throws `ErrPortInUse` / `ErrNoPortAvailable`. */
  reserve(
    netProtos: readonly NetworkProtocolNumber[],
    transProto: TransportProtocolNumber,
    addr: Address | undefined,
    port: number,
    flags: PortFlags,
  ): number {
    if (port !== 0) {
      if (!this.isAvailable(netProtos, transProto, addr, port, flags)) throw new ErrPortInUse();
      this.add(netProtos, transProto, addr, port, flags);
      return port;
    }
    const n = this.last - this.first + 1;
    const offset = this.random.u32() % n;
    for (let i = 0; i < n; i++) {
      const p = this.first + ((offset + i) % n);
      // An ephemeral port is never shared, whatever the flags (Linux does the same for bind(0)).
      if (!this.isAvailable(netProtos, transProto, addr, p, {})) continue;
      this.add(netProtos, transProto, addr, p, flags);
      return p;
    }
    throw new ErrNoPortAvailable();
  }

  private add(
    netProtos: readonly NetworkProtocolNumber[],
    transProto: TransportProtocolNumber,
    addr: Address | undefined,
    port: number,
    flags: PortFlags,
  ): void {
    const addrKey = addr && !addr.isUnspecified ? addr.key : "";
    for (const np of netProtos) {
      const k = this.key(np, transProto, port);
      let rs = this.table.get(k);
      if (!rs) {
        rs = [];
        this.table.set(k, rs);
      }
      const same = rs.find(
        (r) =>
          r.addrKey === addrKey &&
          r.reuseAddress === !!flags.reuseAddress &&
          r.reusePort === !!flags.reusePort,
      );
      if (same) same.count++;
      else rs.push({ addrKey, reuseAddress: !!flags.reuseAddress, reusePort: !!flags.reusePort, count: 1 });
    }
  }

  release(
    netProtos: readonly NetworkProtocolNumber[],
    transProto: TransportProtocolNumber,
    addr: Address | undefined,
    port: number,
    flags: PortFlags,
  ): void {
    const addrKey = addr && !addr.isUnspecified ? addr.key : "";
    for (const np of netProtos) {
      const k = this.key(np, transProto, port);
      const rs = this.table.get(k);
      if (!rs) continue;
      const i = rs.findIndex(
        (r) =>
          r.addrKey === addrKey &&
          r.reuseAddress === !!flags.reuseAddress &&
          r.reusePort === !!flags.reusePort,
      );
      if (i === -1) continue;
      const r = rs[i]!;
      if (--r.count === 0) rs.splice(i, 1);
      if (rs.length === 0) this.table.delete(k);
    }
  }
}
