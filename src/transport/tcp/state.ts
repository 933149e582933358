/** Connection states (RFC 9293 §3.3.2), named as the RFC names them. */
export type TcpState =
  | "CLOSED"
  | "LISTEN"
  | "SYN-SENT"
  | "SYN-RECEIVED"
  | "ESTABLISHED"
  | "FIN-WAIT-1"
  | "FIN-WAIT-2"
  | "CLOSE-WAIT"
  | "CLOSING"
  | "LAST-ACK"
  | "TIME-WAIT";

/** RFC 9293 §3.3.2: states after the handshake completed (RCV.NXT and SND.UNA are known). */
export function isSynchronized(s: TcpState): boolean {
  return s !== "CLOSED" && s !== "LISTEN" && s !== "SYN-SENT";
}

/** States in which the user may still send (RFC 9293 §3.10.2 SEND). */
export function canSendData(s: TcpState): boolean {
  return s === "ESTABLISHED" || s === "CLOSE-WAIT";
}

/** States in which our send machinery runs (data or FIN may be outstanding). */
export function sendRuns(s: TcpState): boolean {
  return (
    s === "ESTABLISHED" || s === "CLOSE-WAIT" || s === "FIN-WAIT-1" || s === "CLOSING" || s === "LAST-ACK"
  );
}

/** States that accept segment text (RFC 9293 §3.10.7.4 "seventh, process the segment text"). */
export function acceptsData(s: TcpState): boolean {
  return s === "ESTABLISHED" || s === "FIN-WAIT-1" || s === "FIN-WAIT-2";
}
