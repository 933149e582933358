/**
 * The seed's errors as typed values, each with its exact message. API calls
 * throw them; callers test with `instanceof`. Malformed packets never throw:
 * they are counted in `Stats` and dropped.
 */
export class TcpipError extends Error {
  override name = "TcpipError";
  /** Whether a retry may succeed later without changing anything (like Go's `IgnoreStats`/temporary). */
  get temporary(): boolean {
    return false;
  }
}

function def(name: string, message: string): new () => TcpipError {
  const C = class extends TcpipError {
    constructor() {
      super(message);
      // TcpipError's `name` field is set on each instance and would hide the prototype's.
      this.name = name;
    }
  };
  Object.defineProperty(C, "name", { value: name });
  Object.defineProperty(C.prototype, "name", { value: name, writable: true });
  return C;
}

export const ErrUnknownProtocol = def("ErrUnknownProtocol", "unknown protocol");
export const ErrUnknownNICID = def("ErrUnknownNICID", "unknown nic id");
export const ErrUnknownProtocolOption = def("ErrUnknownProtocolOption", "unknown option for protocol");
export const ErrDuplicateNICID = def("ErrDuplicateNICID", "duplicate nic id");
export const ErrDuplicateAddress = def("ErrDuplicateAddress", "duplicate address");
export const ErrNoRoute = def("ErrNoRoute", "no route");
export const ErrBadLinkEndpoint = def("ErrBadLinkEndpoint", "bad link layer endpoint");
export const ErrAlreadyBound = def("ErrAlreadyBound", "endpoint already bound");
export const ErrInvalidEndpointState = def("ErrInvalidEndpointState", "endpoint is in invalid state");
export const ErrAlreadyConnecting = def("ErrAlreadyConnecting", "endpoint is already connecting");
export const ErrAlreadyConnected = def("ErrAlreadyConnected", "endpoint is already connected");
export const ErrNoPortAvailable = def("ErrNoPortAvailable", "no ports are available");
export const ErrPortInUse = def("ErrPortInUse", "port is in use");
export const ErrBadLocalAddress = def("ErrBadLocalAddress", "bad local address");
export const ErrClosedForSend = def("ErrClosedForSend", "endpoint is closed for send");
export const ErrClosedForReceive = def("ErrClosedForReceive", "endpoint is closed for receive");
export const ErrWouldBlock = def("ErrWouldBlock", "operation would block");
export const ErrConnectionRefused = def("ErrConnectionRefused", "connection was refused");
export const ErrTimeout = def("ErrTimeout", "operation timed out");
export const ErrAborted = def("ErrAborted", "operation aborted");
export const ErrConnectStarted = def("ErrConnectStarted", "connection attempt started");
export const ErrDestinationRequired = def("ErrDestinationRequired", "destination address is required");
export const ErrNotSupported = def("ErrNotSupported", "operation not supported");
export const ErrQueueSizeNotSupported = def("ErrQueueSizeNotSupported", "queue size querying not supported");
export const ErrNotConnected = def("ErrNotConnected", "endpoint not connected");
export const ErrConnectionReset = def("ErrConnectionReset", "connection reset by peer");
export const ErrConnectionAborted = def("ErrConnectionAborted", "connection aborted");
export const ErrNoSuchFile = def("ErrNoSuchFile", "no such file");
export const ErrInvalidOptionValue = def("ErrInvalidOptionValue", "invalid option value specified");
export const ErrNoLinkAddress = def("ErrNoLinkAddress", "no remote link address");
export const ErrBadAddress = def("ErrBadAddress", "bad address");

// Beyond the seed's 31: errors later netstacks added and our API needs.
export const ErrMessageTooLong = def("ErrMessageTooLong", "message too long");
export const ErrNetworkUnreachable = def("ErrNetworkUnreachable", "network is unreachable");
export const ErrHostUnreachable = def("ErrHostUnreachable", "no route to host");
export const ErrAddressFamilyNotSupported = def(
  "ErrAddressFamilyNotSupported",
  "address family not supported by protocol",
);
export const ErrClosed = def("ErrClosed", "endpoint is closed");

/** The seed's 31 errors, in the seed's order (used by tests and by the errno mapping). */
export const SEED_ERRORS = [
  ErrUnknownProtocol,
  ErrUnknownNICID,
  ErrUnknownProtocolOption,
  ErrDuplicateNICID,
  ErrDuplicateAddress,
  ErrNoRoute,
  ErrBadLinkEndpoint,
  ErrAlreadyBound,
  ErrInvalidEndpointState,
  ErrAlreadyConnecting,
  ErrAlreadyConnected,
  ErrNoPortAvailable,
  ErrPortInUse,
  ErrBadLocalAddress,
  ErrClosedForSend,
  ErrClosedForReceive,
  ErrWouldBlock,
  ErrConnectionRefused,
  ErrTimeout,
  ErrAborted,
  ErrConnectStarted,
  ErrDestinationRequired,
  ErrNotSupported,
  ErrQueueSizeNotSupported,
  ErrNotConnected,
  ErrConnectionReset,
  ErrConnectionAborted,
  ErrNoSuchFile,
  ErrInvalidOptionValue,
  ErrNoLinkAddress,
  ErrBadAddress,
] as const;
