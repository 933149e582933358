/** Segment arrival, dispatched to one handler per state (RFC 9293 §3.10.7). */
import type { TransportPacketInfo } from "../../stack/registration.ts";
import type { TcpEndpoint } from "./endpoint.ts";
import { handleListen } from "./listen.ts";
import type { Segment } from "./segment.ts";
import type { TcpState } from "./state.ts";
import { handleSynSent } from "./syn-sent.ts";
import { handleSynchronized } from "./synchronized.ts";
import { handleTimeWait } from "./time-wait.ts";

type Handler = (ep: TcpEndpoint, seg: Segment, info: TransportPacketInfo) => void;

/** RFC 9293 §3.10.7.1 CLOSED: a closed endpoint is not registered, so nothing reaches it; drop. */
const closed: Handler = () => {};

const HANDLERS: Record<TcpState, Handler> = {
  CLOSED: closed,
  LISTEN: handleListen,
  "SYN-SENT": handleSynSent,
  "SYN-RECEIVED": handleSynchronized,
  ESTABLISHED: handleSynchronized,
  "FIN-WAIT-1": handleSynchronized,
  "FIN-WAIT-2": handleSynchronized,
  "CLOSE-WAIT": handleSynchronized,
  CLOSING: handleSynchronized,
  "LAST-ACK": handleSynchronized,
  "TIME-WAIT": handleTimeWait,
};

export function dispatchSegment(ep: TcpEndpoint, seg: Segment, info: TransportPacketInfo): void {
  HANDLERS[ep.state](ep, seg, info);
  const st = ep.state;
  if (st !== "CLOSED" && st !== "LISTEN") ep.outputAfterBatch();
}
