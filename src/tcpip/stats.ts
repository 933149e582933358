/**
 * Counters, as plain mutable numbers (`stats.tcp.resetsSent++` costs nothing on
 * the hot path). The tree has everything the seed's `Stats` has, plus
 * per-protocol counters for ICMP, ARP, IPv6/NDP and fragmentation.
 */
export function newStats() {
  return {
    /** Packets whose network protocol had no handler. */
    unknownProtocolRcvdPackets: 0,
    /** Packets dropped before reaching a protocol because they were malformed. */
    malformedRcvdPackets: 0,
    /** Packets dropped for any reason. */
    droppedPackets: 0,
    ip: {
      packetsReceived: 0,
      invalidAddressesReceived: 0,
      invalidSourceAddressesReceived: 0,
      malformedPacketsReceived: 0,
      malformedFragmentsReceived: 0,
      packetsDelivered: 0,
      packetsSent: 0,
      outgoingPacketErrors: 0,
      packetsForwarded: 0,
      ttlExceeded: 0,
      noRoute: 0,
      unknownProtocol: 0,
      optionsReceived: 0,
    },
    fragments: {
      received: 0,
      reassembled: 0,
      timedOut: 0,
      dropped: 0,
      overlapsDiscarded: 0,
      memoryPressureDrops: 0,
      fragmentsSent: 0,
      fragmentationErrors: 0,
    },
    arp: {
      packetsReceived: 0,
      requestsReceived: 0,
      requestsReceivedUnknownTargetAddress: 0,
      repliesReceived: 0,
      requestsSent: 0,
      repliesSent: 0,
      malformedPacketsReceived: 0,
      outgoingRequestsDropped: 0,
      resolutionFailures: 0,
    },
    icmp: {
      v4: newIcmpCounters(),
      v6: {
        ...newIcmpCounters(),
        neighborSolicit: { sent: 0, received: 0 },
        neighborAdvert: { sent: 0, received: 0 },
        routerSolicit: { sent: 0, received: 0 },
        routerAdvert: { sent: 0, received: 0 },
        redirect: { received: 0 },
        dadConflicts: 0,
      },
    },
    tcp: {
      activeConnectionOpenings: 0,
      passiveConnectionOpenings: 0,
      currentEstablished: 0,
      establishedResets: 0,
      establishedClosed: 0,
      establishedTimedOut: 0,
      listenOverflowSynDrop: 0,
      listenOverflowAckDrop: 0,
      synCookiesSent: 0,
      synCookiesValid: 0,
      failedConnectionAttempts: 0,
      validSegmentsReceived: 0,
      invalidSegmentsReceived: 0,
      checksumErrors: 0,
      segmentsSent: 0,
      segmentSendErrors: 0,
      resetsSent: 0,
      resetsReceived: 0,
      retransmits: 0,
      fastRetransmit: 0,
      timeouts: 0,
      slowStartRetransmits: 0,
      fastRecovery: 0,
      sackRecovery: 0,
      tlpRetransmits: 0,
      spuriousRecovery: 0,
      /** Retransmitted segments a D-SACK (RFC 2883 §4) reported received twice. */
      spuriousRetransmits: 0,
      /** RACK reordering timer expiries (RFC 8985 §6.2 step 5). */
      rackReorderTimeouts: 0,
      /** Timeouts after which F-RTO sent new data to test them (RFC 5682 §2.1/§3 step 2b). */
      frtoAttempts: 0,
      /** Timeouts F-RTO found spurious (RFC 5682 step 3b), their window reduction undone (Linux TCPSpuriousRTOs). */
      spuriousRtos: 0,
      pawsRejected: 0,
      challengeAcksSent: 0,
      timeWaitAssassinationsBlocked: 0,
      /** Connections established with ECN agreed in the handshake (RFC 3168 §6.1.1). */
      ecnNegotiated: 0,
      /** CE-marked data segments received on ECN connections (RFC 3168 §6.1.3). */
      ecnCeReceived: 0,
      /** Segments with ECE received on ECN connections (RFC 3168 §6.1.2). */
      ecnEceReceived: 0,
      /** Window reductions made for ECE (at most one per window of data, RFC 3168 §6.1.2). */
      ecnCwndReductions: 0,
      /** Data segments sent with CWR (RFC 3168 §6.1.2). */
      ecnCwrSent: 0,
      /** Data segments received with CWR on ECN connections (RFC 3168 §6.1.3). */
      ecnCwrReceived: 0,
    },
    udp: {
      packetsReceived: 0,
      unknownPortErrors: 0,
      receiveBufferErrors: 0,
      malformedPacketsReceived: 0,
      checksumErrors: 0,
      packetsSent: 0,
      packetSendErrors: 0,
    },
  };
}

function newIcmpCounters() {
  return {
    packetsReceived: 0,
    packetsSent: 0,
    malformedReceived: 0,
    checksumErrors: 0,
    echoRequest: { sent: 0, received: 0 },
    echoReply: { sent: 0, received: 0 },
    dstUnreachable: { sent: 0, received: 0 },
    timeExceeded: { sent: 0, received: 0 },
    paramProblem: { sent: 0, received: 0 },
    packetTooBig: { sent: 0, received: 0 },
    rateLimited: 0,
  };
}

export type Stats = ReturnType<typeof newStats>;

/** Per-NIC counters. */
export function newNicStats() {
  return {
    rx: { packets: 0, bytes: 0 },
    tx: { packets: 0, bytes: 0 },
    malformedRcvdPackets: 0,
    droppedPackets: 0,
    unknownL3ProtocolRcvdPackets: 0,
  };
}
export type NicStats = ReturnType<typeof newNicStats>;

/** Flattens a counter tree into `{"tcp.resetsSent": 3, ...}` (for storage and REST). */
export function flattenStats(
  tree: object,
  prefix = "",
  out: Record<string, number> = {},
): Record<string, number> {
  for (const [k, v] of Object.entries(tree)) {
    const name = prefix ? `${prefix}.${k}` : k;
    if (typeof v === "number") out[name] = v;
    else if (v && typeof v === "object") flattenStats(v, name, out);
  }
  return out;
}
