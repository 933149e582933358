import { describe, expect, test } from "bun:test";
import * as errors from "./errors.ts";
import { SEED_ERRORS, TcpipError } from "./errors.ts";

/** The seed's 31 errors and their messages, in the seed's order. */
const SEED: [string, string][] = [
  ["ErrUnknownProtocol", "unknown protocol"],
  ["ErrUnknownNICID", "unknown nic id"],
  ["ErrUnknownProtocolOption", "unknown option for protocol"],
  ["ErrDuplicateNICID", "duplicate nic id"],
  ["ErrDuplicateAddress", "duplicate address"],
  ["ErrNoRoute", "no route"],
  ["ErrBadLinkEndpoint", "bad link layer endpoint"],
  ["ErrAlreadyBound", "endpoint already bound"],
  ["ErrInvalidEndpointState", "endpoint is in invalid state"],
  ["ErrAlreadyConnecting", "endpoint is already connecting"],
  ["ErrAlreadyConnected", "endpoint is already connected"],
  ["ErrNoPortAvailable", "no ports are available"],
  ["ErrPortInUse", "port is in use"],
  ["ErrBadLocalAddress", "bad local address"],
  ["ErrClosedForSend", "endpoint is closed for send"],
  ["ErrClosedForReceive", "endpoint is closed for receive"],
  ["ErrWouldBlock", "operation would block"],
  ["ErrConnectionRefused", "connection was refused"],
  ["ErrTimeout", "operation timed out"],
  ["ErrAborted", "operation aborted"],
  ["ErrConnectStarted", "connection attempt started"],
  ["ErrDestinationRequired", "destination address is required"],
  ["ErrNotSupported", "operation not supported"],
  ["ErrQueueSizeNotSupported", "queue size querying not supported"],
  ["ErrNotConnected", "endpoint not connected"],
  ["ErrConnectionReset", "connection reset by peer"],
  ["ErrConnectionAborted", "connection aborted"],
  ["ErrNoSuchFile", "no such file"],
  ["ErrInvalidOptionValue", "invalid option value specified"],
  ["ErrNoLinkAddress", "no remote link address"],
  ["ErrBadAddress", "bad address"],
];

const EXTRA: [string, string][] = [
  ["ErrMessageTooLong", "message too long"],
  ["ErrNetworkUnreachable", "network is unreachable"],
  ["ErrHostUnreachable", "no route to host"],
  ["ErrAddressFamilyNotSupported", "address family not supported by protocol"],
  ["ErrClosed", "endpoint is closed"],
];

const byName = errors as unknown as Record<string, new () => TcpipError>;

describe("the seed's errors", () => {
  test("all 31, in the seed's order", () => {
    expect(SEED_ERRORS.length).toBe(31);
    expect(SEED_ERRORS.map((C) => C.name)).toEqual(SEED.map(([n]) => n));
  });

  test.each([...SEED, ...EXTRA])("%s says %p and is its own type", (name, message) => {
    const C = byName[name]!;
    const e = new C();
    expect(e.message).toBe(message);
    expect(e.name).toBe(name);
    expect(C.name).toBe(name);
    expect(String(e)).toBe(`${name}: ${message}`);
    expect(e).toBeInstanceOf(C);
    expect(e).toBeInstanceOf(TcpipError);
    expect(e).toBeInstanceOf(Error);
    expect(e.temporary).toBe(false);
    expect(e.stack).toContain(message);
  });

  test("instanceof tells the errors apart", () => {
    const refused = new errors.ErrConnectionRefused();
    expect(refused).not.toBeInstanceOf(errors.ErrConnectionReset);
    expect(() => {
      throw new errors.ErrWouldBlock();
    }).toThrow(errors.ErrWouldBlock);
    const classes = [...SEED, ...EXTRA].map(([n]) => byName[n]!);
    expect(new Set(classes).size).toBe(classes.length);
    for (const C of classes) {
      const hits = classes.filter((D) => new C() instanceof D);
      expect(hits).toEqual([C]);
    }
  });

  test("a plain TcpipError is named for its base class", () => {
    const e = new TcpipError("x");
    expect(e.name).toBe("TcpipError");
    expect(e.temporary).toBe(false);
  });
});
