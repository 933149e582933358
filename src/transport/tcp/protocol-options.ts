/**
 * Stack-wide TCP options, like Linux's net.ipv4.tcp_* sysctls. Endpoints read
 * them when they are created; `TcpProtocol.setOption` changes them.
 */
export interface BufferSizeRange {
  min: number;
  default: number;
  max: number;
}

export interface TcpStackOptions {
  /**
   * Like tcp_rmem: receive buffer bounds and default, bytes. A connection starts at `default`
   * and auto-tuning (buffer-autotune.ts) grows it up to `max`; the ReceiveBufferSize socket
   * option sets a size in [min, max] and turns auto-tuning off for that endpoint. The window
   * scale offered at SYN time comes from `max`, so the window can grow that far.
   */
  receiveBufferSize: BufferSizeRange;
  /** Like tcp_wmem: send buffer bounds and default, bytes; auto-sized with the congestion window up to `max`. */
  sendBufferSize: BufferSizeRange;
  /** 2MSL: how long TIME-WAIT lasts (RFC 9293 §3.4.2 "2MSL"; Linux TCP_TIMEWAIT_LEN = 60 s). */
  timeWaitMs: number;
  /** How long an orphaned connection may sit in FIN-WAIT-2 (Linux tcp_fin_timeout). */
  finTimeoutMs: number;
  /** Offer and accept SACK-permitted (RFC 2018). */
  sack: boolean;
  /**
   * RACK-TLP (RFC 8985) on SACK connections: RACK's time-based loss detection in place of RFC 6675's
   * DupThresh, the reordering timer, tail loss probes, and undo of fast recoveries that D-SACK or
   * timestamps show were spurious (RFC 3708). `false`: plain RFC 6675 recovery, the tail left to the RTO.
   */
  rack: boolean;
  /**
   * F-RTO (RFC 5682), like Linux's net.ipv4.tcp_frto (on by default): after a retransmission timeout the
   * sender sends new data on the first ACK instead of going back over the window, and when the next ACK
   * acknowledges data that was never retransmitted the timeout was spurious and its window reduction is
   * undone (the RFC 4015 response, as Linux). The SACK-enhanced variant (RFC 5682 §3) on connections that
   * negotiated SACK, the basic one (§2) otherwise. See frto.ts.
   */
  frto: boolean;
  /** Offer and accept timestamps (RFC 7323 §3). */
  timestamps: boolean;
  /** Offer and accept window scaling (RFC 7323 §2). */
  windowScaling: boolean;
  /** Answer with SYN cookies when the SYN queue overflows (RFC 4987 §3.6). */
  synCookies: boolean;
  minRtoMs: number;
  maxRtoMs: number;
  initialRtoMs: number;
  /** Retransmissions of data before the connection is dropped (Linux tcp_retries2 = 15). */
  maxRetries: number;
  /** SYN retransmissions (Linux tcp_syn_retries = 6). */
  synRetries: number;
  /** SYN-ACK retransmissions (Linux tcp_synack_retries = 5). */
  synAckRetries: number;
  /** Delayed ACK timeout (RFC 9293 §3.8.6.3 "MUST be less than 0.5 seconds"; Linux starts at 40 ms). */
  delayedAckMs: number;
  /** Segments acknowledged at once at connection start (Linux's quick-ack mode, up to 16). */
  quickAckSegments: number;
  keepaliveIdleMs: number;
  keepaliveIntervalMs: number;
  keepaliveCount: number;
  /** Initial congestion window in segments (RFC 6928). */
  initialWindowSegments: number;
  /** RFC 5961 §7: challenge ACKs allowed per second (Linux tcp_challenge_ack_limit = 1000). */
  challengeAckLimit: number;
  /** Congestion control algorithm: "reno" (NewReno, RFC 5681/6582) or "cubic" (RFC 9438 with HyStart++). */
  congestionControl: string;
  /**
   * ECN (RFC 3168), like Linux's net.ipv4.tcp_ecn: 0 off; 1 request it in our SYNs and accept it in the
   * peer's; 2 (the default, as Linux) accept it only when the peer asks. An endpoint's `Ecn` socket option
   * overrides it. See ecn.ts.
   */
  ecn: number;
}

/**
 * Buffer defaults. The minimum and default are Linux's (tcp_rmem 4 KiB / 128 KiB, tcp_wmem
 * 4 KiB / 16 KiB): a connection starts small and auto-tuning grows what it uses. The maxima are
 * larger than Linux's 6 MiB / 4 MiB so that a 1 Gbit/s, 100 ms path (a 12.5 MB bandwidth-delay
 * product) fills without hand-set buffers: 16 MiB gives the window room above the BDP for the
 * queue, and makes the window scale shift 9 (Linux offers 7 for 6 MiB). Nothing is allocated by
 * size: queues hold only the bytes in them, so an idle connection costs the same at any limit,
 * and a busy one grows only as far as its measured rate needs.
 */
export const DEFAULT_RECEIVE_BUFFER: Readonly<BufferSizeRange> = {
  min: 4096,
  default: 128 << 10,
  max: 16 << 20,
};
export const DEFAULT_SEND_BUFFER: Readonly<BufferSizeRange> = { min: 4096, default: 16 << 10, max: 16 << 20 };

/** The largest window TCP can advertise (RFC 7323 §2.3: shift at most 14), and so the largest buffer limit. */
export const MAX_BUFFER_SIZE = 0xffff * 2 ** 14;

export function defaultTcpStackOptions(): TcpStackOptions {
  return {
    receiveBufferSize: { ...DEFAULT_RECEIVE_BUFFER },
    sendBufferSize: { ...DEFAULT_SEND_BUFFER },
    timeWaitMs: 60_000,
    finTimeoutMs: 60_000,
    sack: true,
    rack: true,
    frto: true,
    timestamps: true,
    windowScaling: true,
    synCookies: true,
    minRtoMs: 200,
    maxRtoMs: 120_000,
    initialRtoMs: 1000,
    maxRetries: 15,
    synRetries: 6,
    synAckRetries: 5,
    delayedAckMs: 40,
    quickAckSegments: 16,
    keepaliveIdleMs: 2 * 60 * 60 * 1000,
    keepaliveIntervalMs: 75_000,
    keepaliveCount: 9,
    initialWindowSegments: 10,
    challengeAckLimit: 1000,
    congestionControl: "reno",
    ecn: 2,
  };
}

/** The window scale shift that lets a buffer of `size` bytes be advertised (RFC 7323 §2.3, at most 14). */
export function windowScaleFor(size: number): number {
  let s = 0;
  while (s < 14 && size >>> s > 0xffff) s++;
  return s;
}
