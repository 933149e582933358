import type { Address } from "./address.ts";
import type { NICID } from "./protocols.ts";
import type { Subnet } from "./subnet.ts";

/** A transport endpoint's address: NIC (0 for any), network address (undefined for any) and port. */
export interface FullAddress {
  nic?: NICID;
  addr?: Address;
  port: number;
}

export function formatFullAddress(a: FullAddress): string {
  const host = a.addr ? (a.addr.is6 ? `[${a.addr}]` : a.addr.toString()) : "*";
  return `${host}:${a.port}`;
}

/** An address of a given network protocol with its prefix length, as added to a NIC. */
export interface ProtocolAddress {
  protocol: number;
  address: Address;
  prefixLen: number;
}

/** A row of the route table. `gateway` undefined means on-link. */
export interface Route {
  destination: Subnet;
  gateway?: Address;
  nic: NICID;
  /** Lower wins among routes of the same prefix length. */
  metric?: number;
}

/** Whether `route` covers `addr` (the seed's `Route.Match`). */
export function routeMatch(route: Route, addr: Address): boolean {
  return route.destination.contains(addr);
}

/** A FullAddress from parts (no NIC means any; no address means any). */
export function fullAddress(addr: Address | undefined, port: number, nic?: NICID): FullAddress {
  const a: FullAddress = { port };
  if (addr) a.addr = addr;
  if (nic !== undefined) a.nic = nic;
  return a;
}
