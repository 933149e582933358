import { IPV4_PROTOCOL_NUMBER, IPV6_PROTOCOL_NUMBER } from "../../tcpip/protocols.ts";

/**
 * The network protocol of an IP packet on a TUN (no link header) from its
 * first byte's version nibble (RFC 791 §3.1, RFC 8200 §3), or 0 for any other
 * version: the caller counts the packet malformed and drops it.
 */
export function ipProtocolOf(firstByte: number): number {
  const version = firstByte >>> 4;
  if (version === 4) return IPV4_PROTOCOL_NUMBER;
  if (version === 6) return IPV6_PROTOCOL_NUMBER;
  return 0;
}
