/**
 * Socket options, as a discriminated set of names. `setSockOpt(name, value)` and
 * `getSockOpt(name)` take these; an endpoint that does not know a name throws
 * `ErrUnknownProtocolOption`.
 */
export const SockOpt = {
  NoDelay: "NoDelay",
  Cork: "Cork",
  Passcred: "Passcred",
  ReceiveBufferSize: "ReceiveBufferSize",
  SendBufferSize: "SendBufferSize",
  ReceiveQueueSize: "ReceiveQueueSize",
  SendQueueSize: "SendQueueSize",
  ReuseAddress: "ReuseAddress",
  ReusePort: "ReusePort",
  V6Only: "V6Only",
  Timestamp: "Timestamp",
  TCPInfo: "TCPInfo",
  Error: "Error",
  KeepaliveEnabled: "KeepaliveEnabled",
  KeepaliveIdle: "KeepaliveIdle",
  KeepaliveInterval: "KeepaliveInterval",
  KeepaliveCount: "KeepaliveCount",
  UserTimeout: "UserTimeout",
  MaxSegment: "MaxSegment",
  Broadcast: "Broadcast",
  MulticastTTL: "MulticastTTL",
  TTL: "TTL",
  AddMembership: "AddMembership",
  RemoveMembership: "RemoveMembership",
  /** SO_LINGER with a zero timeout: close sends RST (RFC 9293 §3.10.4 ABORT). */
  Linger: "Linger",
  /**
   * TCP only: this endpoint's ECN mode (RFC 3168), as the stack-wide `ecn` option (Linux net.ipv4.tcp_ecn):
   * 0 off, 1 request and accept, 2 accept only. Read when a SYN is sent or answered.
   */
  Ecn: "Ecn",
} as const;
export type SockOptName = (typeof SockOpt)[keyof typeof SockOpt];

/** TCP_INFO as returned by `getSockOpt("TCPInfo")`. Times are ms. */
export interface TcpInfo {
  state: string;
  rtt: number;
  rttVar: number;
  rto: number;
  sndCwnd: number;
  sndSsthresh: number;
  sndMss: number;
  rcvMss: number;
  retransmits: number;
  sndWnd: number;
  rcvWnd: number;
  /** Bytes the application read in its best measured RTT (receive-buffer auto-tuning; Linux tcpi_rcv_space). */
  rcvSpace?: number;
  /** Receiver-side RTT estimate in ms (Linux tcpi_rcv_rtt); 0 before a sample. */
  rcvRtt?: number;
  /** The receive buffer's current limit in bytes (auto-tuned unless set with ReceiveBufferSize). */
  rcvBuf?: number;
  /** The send buffer's current limit in bytes (auto-sized unless set with SendBufferSize). */
  sndBuf?: number;
  /** Segments retransmitted over the connection's life (Linux tcpi_total_retrans). */
  totalRetrans?: number;
  /** Retransmissions a D-SACK reported received twice, i.e. spurious (RFC 2883 §4). */
  spuriousRetrans?: number;
  /** D-SACK blocks received (Linux tcpi_dsack_dups counts the segments). */
  dsacks?: number;
  /** Whether RACK saw reordering (RFC 8985 "RACK.reordering_seen"; Linux tcpi_reord_seen counts events). */
  reorderingSeen?: boolean;
  /** Whether the connection uses ECN (both sides agreed in the handshake, RFC 3168 §6.1.1; Linux TCPI_OPT_ECN). */
  ecn?: boolean;
}
