/**
 * The route table: longest-prefix match, then the lowest metric, then the
 * route added first (RFC 1812 §5.2.4.3 "Basic Match" and "Longest Match";
 * metrics break ties between routes of equal prefix length, as in Linux).
 * Kept sorted in that order, so a lookup walks it once and takes the first
 * route that fits.
 */
import type { Address } from "../tcpip/address.ts";
import type { Route } from "../tcpip/full-address.ts";
import type { NICID } from "../tcpip/protocols.ts";

function metricOf(r: Route): number {
  return r.metric ?? 0;
}

/** Whether `a` sorts before `b`: longer prefix, then lower metric. */
function before(a: Route, b: Route): boolean {
  const pa = a.destination.prefix;
  const pb = b.destination.prefix;
  if (pa !== pb) return pa > pb;
  return metricOf(a) < metricOf(b);
}

export function sameRoute(a: Route, b: Route): boolean {
  if (!a.destination.equals(b.destination) || a.nic !== b.nic) return false;
  if ((a.gateway === undefined) !== (b.gateway === undefined)) return false;
  if (a.gateway && b.gateway && !a.gateway.equals(b.gateway)) return false;
  return metricOf(a) === metricOf(b);
}

function copyRoute(r: Route): Route {
  const c: Route = { destination: r.destination, nic: r.nic };
  if (r.gateway) c.gateway = r.gateway;
  if (r.metric !== undefined) c.metric = r.metric;
  return c;
}

export class RouteTable {
  private routes: Route[] = [];

  /** Replaces the table (the seed's `SetRouteTable`). */
  set(routes: readonly Route[]): void {
    this.routes = [];
    for (const r of routes) this.add(r);
  }

  /** Inserts `r` after every route that sorts before or equal to it (stable). */
  add(r: Route): void {
    const c = copyRoute(r);
    let i = this.routes.length;
    while (i > 0 && before(c, this.routes[i - 1]!)) i--;
    this.routes.splice(i, 0, c);
  }

  /** Removes routes equal to `r`; returns how many. */
  remove(r: Route): number {
    const n = this.routes.length;
    this.routes = this.routes.filter((x) => !sameRoute(x, r));
    return n - this.routes.length;
  }

  /** Removes every route through `nic` (used when the NIC goes away). */
  removeNIC(nic: NICID): void {
    this.routes = this.routes.filter((x) => x.nic !== nic);
  }

  /** A copy of the table in lookup order. */
  list(): Route[] {
    return this.routes.map(copyRoute);
  }

  /**
   * The routes that match `dst`, best first; restricted to `nic` unless it is 0.
   * The caller takes the first whose NIC is usable.
   */
  *matches(dst: Address, nic: NICID): Generator<Route> {
    for (const r of this.routes) {
      if (nic !== 0 && r.nic !== nic) continue;
      if (r.destination.contains(dst)) yield r;
    }
  }
}
