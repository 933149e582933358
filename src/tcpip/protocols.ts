/** A NIC's identifier, unique in a stack. */
export type NICID = number;

/** EtherType values (IEEE 802.3) used as network protocol numbers, as in the seed. */
export const IPV4_PROTOCOL_NUMBER = 0x0800;
export const ARP_PROTOCOL_NUMBER = 0x0806;
export const IPV6_PROTOCOL_NUMBER = 0x86dd;
export type NetworkProtocolNumber = number;

/** IANA protocol numbers (the IPv4 Protocol / IPv6 Next Header field). */
export const ICMPV4_PROTOCOL_NUMBER = 1;
export const TCP_PROTOCOL_NUMBER = 6;
export const UDP_PROTOCOL_NUMBER = 17;
export const ICMPV6_PROTOCOL_NUMBER = 58;
export type TransportProtocolNumber = number;

/** Flags for `shutdown` (bit set, as the seed). */
export const ShutdownFlags = { Read: 1, Write: 2 } as const;
export type ShutdownFlags = number;
