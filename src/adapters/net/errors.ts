/** Maps the stack's typed errors to Node's error codes, so code written for `node:net` handles them unchanged. */
import {
  ErrAborted,
  ErrAddressFamilyNotSupported,
  ErrAlreadyBound,
  ErrAlreadyConnected,
  ErrBadLocalAddress,
  ErrClosedForSend,
  ErrConnectionAborted,
  ErrConnectionRefused,
  ErrConnectionReset,
  ErrDestinationRequired,
  ErrHostUnreachable,
  ErrInvalidEndpointState,
  ErrInvalidOptionValue,
  ErrMessageTooLong,
  ErrNetworkUnreachable,
  ErrNoLinkAddress,
  ErrNoPortAvailable,
  ErrNoRoute,
  ErrNotConnected,
  ErrPortInUse,
  ErrTimeout,
  ErrWouldBlock,
  type TcpipError,
} from "../../tcpip/errors.ts";

const CODES: [new () => TcpipError, string][] = [
  [ErrConnectionRefused, "ECONNREFUSED"],
  [ErrConnectionReset, "ECONNRESET"],
  [ErrTimeout, "ETIMEDOUT"],
  [ErrPortInUse, "EADDRINUSE"],
  [ErrAlreadyBound, "EINVAL"],
  [ErrNoPortAvailable, "EADDRNOTAVAIL"],
  [ErrBadLocalAddress, "EADDRNOTAVAIL"],
  [ErrNoRoute, "ENETUNREACH"],
  [ErrNetworkUnreachable, "ENETUNREACH"],
  [ErrHostUnreachable, "EHOSTUNREACH"],
  [ErrNoLinkAddress, "EHOSTUNREACH"],
  [ErrConnectionAborted, "ECONNABORTED"],
  [ErrAborted, "ECONNABORTED"],
  [ErrClosedForSend, "EPIPE"],
  [ErrNotConnected, "ENOTCONN"],
  [ErrAlreadyConnected, "EISCONN"],
  [ErrInvalidEndpointState, "EINVAL"],
  [ErrMessageTooLong, "EMSGSIZE"],
  [ErrDestinationRequired, "EDESTADDRREQ"],
  [ErrAddressFamilyNotSupported, "EAFNOSUPPORT"],
  [ErrInvalidOptionValue, "EINVAL"],
  [ErrWouldBlock, "EAGAIN"],
];

/** Errors defined by a transport rather than `src/tcpip` (matched by name: the adapter does not import them). */
const CODES_BY_NAME: Record<string, string> = {
  // UDP: sending to a broadcast address without setBroadcast(true) (Linux EACCES).
  ErrBroadcastDisabled: "EACCES",
};

export interface NodeStyleError extends Error {
  code: string;
  syscall?: string;
  address?: string;
  port?: number;
  cause?: unknown;
}

/** A Node-style error (`err.code`, `err.syscall`) wrapping a stack error; the original is `err.cause`. */
export function toNodeError(e: unknown, syscall: string, address?: string, port?: number): NodeStyleError {
  let code = (e instanceof Error && CODES_BY_NAME[e.name]) || "EIO";
  for (const [C, c] of CODES) {
    if (e instanceof C) {
      code = c;
      break;
    }
  }
  const where = address !== undefined ? ` ${address}${port !== undefined ? `:${port}` : ""}` : "";
  const msg = e instanceof Error ? e.message : String(e);
  const err = new Error(`${syscall} ${code}${where} (${msg})`) as NodeStyleError;
  err.code = code;
  err.syscall = syscall;
  if (address !== undefined) err.address = address;
  if (port !== undefined) err.port = port;
  err.cause = e;
  return err;
}
