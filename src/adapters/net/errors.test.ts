import { describe, expect, test } from "bun:test";
import {
  ErrConnectionRefused,
  ErrConnectionReset,
  ErrMessageTooLong,
  ErrPortInUse,
  ErrTimeout,
  ErrWouldBlock,
} from "../../tcpip/errors.ts";
import { ErrBroadcastDisabled } from "../../transport/udp/datagram-endpoint.ts";
import { toNodeError } from "./errors.ts";

describe("toNodeError", () => {
  test.each([
    ["ErrConnectionRefused", "ECONNREFUSED", () => new ErrConnectionRefused()],
    ["ErrConnectionReset", "ECONNRESET", () => new ErrConnectionReset()],
    ["ErrTimeout", "ETIMEDOUT", () => new ErrTimeout()],
    ["ErrPortInUse", "EADDRINUSE", () => new ErrPortInUse()],
    ["ErrMessageTooLong", "EMSGSIZE", () => new ErrMessageTooLong()],
    ["ErrWouldBlock", "EAGAIN", () => new ErrWouldBlock()],
    ["ErrBroadcastDisabled", "EACCES", () => new ErrBroadcastDisabled()],
    ["a plain Error", "EIO", () => new Error("something else")],
  ] as const)("%s → %s", (_name, code, make) => {
    expect(toNodeError(make(), "connect").code).toBe(code);
  });

  test("carries syscall, address, port and the stack error as cause; the message reads like Node's", () => {
    const cause = new ErrConnectionRefused();
    const e = toNodeError(cause, "connect", "198.18.0.2", 80);
    expect(e).toMatchObject({ code: "ECONNREFUSED", syscall: "connect", address: "198.18.0.2", port: 80 });
    expect(e.cause).toBe(cause);
    expect(e.message).toBe("connect ECONNREFUSED 198.18.0.2:80 (connection was refused)");
  });
});
