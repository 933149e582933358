import { describe, expect, test } from "bun:test";
import { ManualClock } from "../../tcpip/clock.ts";
import {
  ErrBadAddress,
  ErrClosedForReceive,
  ErrClosedForSend,
  ErrConnectionRefused,
  ErrConnectionReset,
  ErrDestinationRequired,
  ErrInvalidOptionValue,
  ErrMessageTooLong,
  ErrNotConnected,
  ErrPortInUse,
  ErrUnknownProtocol,
  ErrWouldBlock,
} from "../../tcpip/errors.ts";
import { SockOpt } from "../../tcpip/options.ts";
import { ShutdownFlags } from "../../tcpip/protocols.ts";
import { EventErr, EventHUp, EventIn, EventOut, Queue } from "../../waiter/waiter.ts";
import {
  UNIX_DGRAM,
  UNIX_MAX_DGRAM_QLEN,
  UNIX_SEQPACKET,
  UNIX_STREAM,
  type UnixAddress,
  UnixNamespace,
  unixAddress,
} from "./namespace.ts";

const ns = () => new UnixNamespace({ clock: new ManualClock() });
const bytes = (...b: number[]) => Uint8Array.from(b);
const text = (s: string) => new TextEncoder().encode(s);
const str = (b: Uint8Array) => new TextDecoder().decode(b);

/** A listener on `name`, and a connected client and its accepted peer. */
function connected(type = UNIX_STREAM, name = "svc") {
  const n = ns();
  const lq = new Queue();
  const l = n.newEndpoint(type, 0, lq);
  l.bind(unixAddress(name));
  l.listen!(4);
  const cq = new Queue();
  const c = n.newEndpoint(type, 0, cq);
  let lEvents = 0;
  lq.register({ callback: (m) => (lEvents |= m) }, EventIn);
  c.connect(unixAddress(name));
  expect(lEvents & EventIn).toBe(EventIn);
  const { endpoint: s, waiterQueue: sq } = l.accept!();
  return { n, l, c, cq, s, sq: sq as Queue };
}

describe("UnixNamespace", () => {
  test("names are claimed by bind and freed by close; a taken name is EADDRINUSE (ErrPortInUse)", () => {
    const n = ns();
    const a = n.newEndpoint(UNIX_STREAM, 0, new Queue());
    a.bind(unixAddress("\0abstract"));
    expect(n.list()).toEqual(["\0abstract"]);
    const b = n.newEndpoint(UNIX_DGRAM, 0, new Queue());
    expect(() => b.bind(unixAddress("\0abstract"))).toThrow(ErrPortInUse);
    a.close();
    expect(n.list()).toEqual([]);
    b.bind(unixAddress("\0abstract"));
    expect(n.list()).toEqual(["\0abstract"]);
  });

  test("an address without a name is ErrBadAddress; an unknown type is ErrUnknownProtocol", () => {
    const n = ns();
    expect(() => n.newEndpoint(UNIX_STREAM, 0, new Queue()).bind({ port: 0 })).toThrow(ErrBadAddress);
    expect(() => n.newEndpoint(3, 0, new Queue())).toThrow(ErrUnknownProtocol);
  });

  test("namespaces are separate registries", () => {
    const a = ns();
    const b = ns();
    const l = a.newEndpoint(UNIX_STREAM, 0, new Queue());
    l.bind(unixAddress("x"));
    l.listen!(1);
    expect(() => b.newEndpoint(UNIX_STREAM, 0, new Queue()).connect(unixAddress("x"))).toThrow(
      ErrConnectionRefused,
    );
  });
});

describe("stream", () => {
  test("connect to a listening name completes at once; both sides see the names", () => {
    const { c, s } = connected();
    expect(c.readiness(EventOut)).toBe(EventOut);
    expect((c.getRemoteAddress() as UnixAddress).path).toBe("svc");
    expect((s.getLocalAddress() as UnixAddress).path).toBe("svc");
    expect((c.getLocalAddress() as UnixAddress).path).toBe("");
  });

  test("connect to nothing, or to a name that does not listen, is refused", () => {
    const n = ns();
    const c = n.newEndpoint(UNIX_STREAM, 0, new Queue());
    expect(() => c.connect(unixAddress("none"))).toThrow(ErrConnectionRefused);
    const bound = n.newEndpoint(UNIX_STREAM, 0, new Queue());
    bound.bind(unixAddress("bound"));
    expect(() => c.connect(unixAddress("bound"))).toThrow(ErrConnectionRefused);
    const dg = n.newEndpoint(UNIX_DGRAM, 0, new Queue());
    dg.bind(unixAddress("dg"));
    expect(() => c.connect(unixAddress("dg"))).toThrow(ErrConnectionRefused);
  });

  test("a full backlog makes connect ErrWouldBlock (Linux EAGAIN on a non-blocking socket)", () => {
    const n = ns();
    const l = n.newEndpoint(UNIX_STREAM, 0, new Queue());
    l.bind(unixAddress("b"));
    l.listen!(1);
    n.newEndpoint(UNIX_STREAM, 0, new Queue()).connect(unixAddress("b"));
    expect(() => n.newEndpoint(UNIX_STREAM, 0, new Queue()).connect(unixAddress("b"))).toThrow(ErrWouldBlock);
    l.accept!();
    n.newEndpoint(UNIX_STREAM, 0, new Queue()).connect(unixAddress("b"));
  });

  test("bytes flow both ways and coalesce; reads take at most maxBytes", () => {
    const { c, s } = connected();
    expect(c.write(text("hello "))).toBe(6);
    expect(c.write(text("world"))).toBe(5);
    expect(str(s.read(3).data)).toBe("hel");
    expect(str(s.peek().data)).toBe("lo world");
    expect(str(s.read().data)).toBe("lo world");
    expect(() => s.read()).toThrow(ErrWouldBlock);
    s.write(bytes(1, 2, 3));
    expect(c.read().data).toEqual(bytes(1, 2, 3));
  });

  test("backpressure: the peer's bounded buffer takes what fits, then ErrWouldBlock; reading wakes the writer", () => {
    const { c, cq, s } = connected();
    s.setSockOpt(SockOpt.ReceiveBufferSize, 10);
    expect(c.write(new Uint8Array(6))).toBe(6);
    expect(c.write(new Uint8Array(6))).toBe(4);
    expect(() => c.write(new Uint8Array(1))).toThrow(ErrWouldBlock);
    expect(c.readiness(EventOut)).toBe(0);
    let woke = 0;
    cq.register({ callback: (m) => (woke |= m) }, EventOut);
    expect(s.read(4).data.length).toBe(4);
    expect(woke).toBe(EventOut);
    expect(c.readiness(EventOut)).toBe(EventOut);
    expect(c.write(new Uint8Array(9))).toBe(4);
    expect(s.getSockOpt(SockOpt.ReceiveQueueSize)).toBe(10);
  });

  test("shutdown(Write) is a half-close: the peer reads what was sent, then end of stream; it can still answer", () => {
    const { c, s, sq } = connected();
    let seen = 0;
    sq.register({ callback: (m) => (seen |= m) }, EventIn | EventHUp);
    c.write(text("last"));
    c.shutdown(ShutdownFlags.Write);
    expect(seen & EventIn).toBe(EventIn);
    expect(() => c.write(text("x"))).toThrow(ErrClosedForSend);
    expect(str(s.read().data)).toBe("last");
    expect(() => s.read()).toThrow(ErrClosedForReceive);
    s.write(text("reply"));
    expect(str(c.read().data)).toBe("reply");
  });

  test("close: the peer drains, then sees end of stream; its writes fail (EPIPE)", () => {
    const { c, s } = connected();
    c.write(text("bye"));
    c.close();
    expect(s.readiness(EventIn | EventHUp)).toBe(EventIn | EventHUp);
    expect(str(s.read().data)).toBe("bye");
    expect(() => s.read()).toThrow(ErrClosedForReceive);
    expect(() => s.write(text("x"))).toThrow(ErrClosedForSend);
  });

  test("closing with unread data resets the peer (Linux ECONNRESET)", () => {
    const { c, s } = connected();
    c.write(text("unread"));
    s.close();
    expect(c.readiness(EventErr)).toBe(EventErr);
    expect(() => c.read()).toThrow(ErrConnectionReset);
    expect(() => c.read()).toThrow(ErrClosedForReceive);
  });

  test("closing a listener frees its name and closes connections not yet accepted", () => {
    const n = ns();
    const l = n.newEndpoint(UNIX_STREAM, 0, new Queue());
    l.bind(unixAddress("l"));
    l.listen!(4);
    const c = n.newEndpoint(UNIX_STREAM, 0, new Queue());
    c.connect(unixAddress("l"));
    l.close();
    expect(n.list()).toEqual([]);
    expect(() => c.read()).toThrow(ErrClosedForReceive);
    expect(() => c.write(text("x"))).toThrow(ErrClosedForSend);
  });

  test("a client bound to a name shows it to the server, and frees it on close", () => {
    const n = ns();
    const l = n.newEndpoint(UNIX_STREAM, 0, new Queue());
    l.bind(unixAddress("srv"));
    l.listen!(1);
    const c = n.newEndpoint(UNIX_STREAM, 0, new Queue());
    c.bind(unixAddress("cli"));
    c.connect(unixAddress("srv"));
    const s = l.accept!().endpoint;
    expect((s.getRemoteAddress() as UnixAddress).path).toBe("cli");
    c.close();
    s.close();
    expect(n.list()).toEqual(["srv"]);
    l.close();
    expect(n.list()).toEqual([]);
  });

  test("listen without bind picks a name (Linux autobind)", () => {
    const n = ns();
    const l = n.newEndpoint(UNIX_STREAM, 0, new Queue());
    l.listen!(1);
    const name = (l.getLocalAddress() as UnixAddress).path;
    expect(name.startsWith("\0")).toBe(true);
    n.newEndpoint(UNIX_STREAM, 0, new Queue()).connect(unixAddress(name));
    expect(l.readiness(EventIn)).toBe(EventIn);
  });

  test("read and write before connecting fail with ErrNotConnected; shutdown too", () => {
    const e = ns().newEndpoint(UNIX_STREAM, 0, new Queue());
    expect(() => e.read()).toThrow(ErrNotConnected);
    expect(() => e.write(text("x"))).toThrow(ErrNotConnected);
    expect(() => e.shutdown(ShutdownFlags.Write)).toThrow(ErrNotConnected);
  });

  test("Passcred: reads carry the sender's credentials only while the option is on (unix(7) SO_PASSCRED)", () => {
    const creds = { pid: 4242, uid: 1000, gid: 100 };
    for (const type of [UNIX_STREAM, UNIX_SEQPACKET] as const) {
      const n = new UnixNamespace({ clock: new ManualClock(), credentials: creds });
      const [a, b] = n.socketPair(type);
      expect(b.endpoint.getSockOpt(SockOpt.Passcred)).toBe(false);
      a.endpoint.write(text("one"));
      expect(b.endpoint.read().control.credentials).toBeUndefined();
      b.endpoint.setSockOpt(SockOpt.Passcred, true);
      expect(b.endpoint.getSockOpt(SockOpt.Passcred)).toBe(true);
      a.endpoint.write(text("two"));
      expect(b.endpoint.read().control.credentials).toEqual(creds);
      expect(() => b.endpoint.setSockOpt(SockOpt.Passcred, 1)).toThrow(ErrInvalidOptionValue);
    }
    const n = new UnixNamespace({ clock: new ManualClock(), credentials: creds });
    const [a, b] = n.socketPair(UNIX_DGRAM);
    b.endpoint.setSockOpt(SockOpt.Passcred, true);
    a.endpoint.write(text("dgram"));
    expect(b.endpoint.read().control.credentials).toEqual(creds);
    // By default a namespace speaks for this process.
    expect(ns().credentials.pid).toBe(process.pid);
  });

  test("socketPair gives two connected, unnamed endpoints", () => {
    const [a, b] = ns().socketPair(UNIX_STREAM);
    a.endpoint.write(text("ping"));
    expect(str(b.endpoint.read().data)).toBe("ping");
    expect((b.endpoint.getRemoteAddress() as UnixAddress).path).toBe("");
  });
});

describe("seqpacket", () => {
  test("records keep their boundaries; a short read truncates and drops the rest", () => {
    const { c, s } = connected(UNIX_SEQPACKET);
    c.write(text("one"));
    c.write(text("three"));
    c.write(text("x"));
    expect(str(s.read().data)).toBe("one");
    const r = s.read(2);
    expect(str(r.data)).toBe("th");
    expect(r.control.truncated).toBe(true);
    expect(str(s.read().data)).toBe("x");
  });

  test("a record goes whole or not at all", () => {
    const { c, s } = connected(UNIX_SEQPACKET);
    s.setSockOpt(SockOpt.ReceiveBufferSize, 8);
    expect(() => c.write(new Uint8Array(9))).toThrow(ErrMessageTooLong);
    expect(c.write(new Uint8Array(5))).toBe(5);
    expect(() => c.write(new Uint8Array(5))).toThrow(ErrWouldBlock);
    s.read();
    expect(c.write(new Uint8Array(5))).toBe(5);
  });
});

describe("datagram", () => {
  test("messages to a name arrive whole, with the sender's name", () => {
    const n = ns();
    const a = n.newEndpoint(UNIX_DGRAM, 0, new Queue());
    const b = n.newEndpoint(UNIX_DGRAM, 0, new Queue());
    a.bind(unixAddress("a"));
    b.bind(unixAddress("b"));
    a.write(text("hi"), { to: unixAddress("b") });
    a.write(text("there"), { to: unixAddress("b") });
    const r = b.read();
    expect(str(r.data)).toBe("hi");
    expect((r.from as UnixAddress).path).toBe("a");
    expect(str(b.read().data)).toBe("there");
    expect(() => b.read()).toThrow(ErrWouldBlock);
  });

  test("sending to no one is refused; without a destination it is ErrDestinationRequired", () => {
    const n = ns();
    const a = n.newEndpoint(UNIX_DGRAM, 0, new Queue());
    expect(() => a.write(text("x"), { to: unixAddress("nobody") })).toThrow(ErrConnectionRefused);
    expect(() => a.write(text("x"))).toThrow(ErrDestinationRequired);
  });

  test("connect sets the default destination; a closed peer refuses", () => {
    const n = ns();
    const a = n.newEndpoint(UNIX_DGRAM, 0, new Queue());
    const b = n.newEndpoint(UNIX_DGRAM, 0, new Queue());
    b.bind(unixAddress("b"));
    a.connect(unixAddress("b"));
    a.write(text("x"));
    expect(str(b.read().data)).toBe("x");
    expect((a.getRemoteAddress() as UnixAddress).path).toBe("b");
    b.close();
    expect(() => a.write(text("y"))).toThrow(ErrConnectionRefused);
  });

  test("a full receiver queue blocks the sender until it reads (max_dgram_qlen and bytes)", () => {
    const n = ns();
    const aq = new Queue();
    const a = n.newEndpoint(UNIX_DGRAM, 0, aq);
    const b = n.newEndpoint(UNIX_DGRAM, 0, new Queue());
    b.bind(unixAddress("b"));
    a.connect(unixAddress("b"));
    for (let i = 0; i < UNIX_MAX_DGRAM_QLEN; i++) a.write(bytes(i & 0xff));
    expect(() => a.write(bytes(0))).toThrow(ErrWouldBlock);
    expect(a.readiness(EventOut)).toBe(0);
    let woke = 0;
    aq.register({ callback: (m) => (woke |= m) }, EventOut);
    b.read();
    expect(woke).toBe(EventOut);
    a.write(bytes(1));
    b.setSockOpt(SockOpt.ReceiveBufferSize, 4);
    expect(() => a.write(new Uint8Array(5))).toThrow(ErrMessageTooLong);
  });

  test("a short read truncates the message", () => {
    const [a, b] = ns().socketPair(UNIX_DGRAM);
    a.endpoint.write(text("abcdef"));
    const r = b.endpoint.read(3);
    expect(str(r.data)).toBe("abc");
    expect(r.control.truncated).toBe(true);
    expect(() => b.endpoint.read()).toThrow(ErrWouldBlock);
  });

  test("close frees the name and makes reads end", () => {
    const n = ns();
    const b = n.newEndpoint(UNIX_DGRAM, 0, new Queue());
    b.bind(unixAddress("b"));
    b.close();
    expect(n.list()).toEqual([]);
    expect(() => b.read()).toThrow(ErrClosedForReceive);
    expect(b.readiness(EventHUp)).toBe(EventHUp);
  });
});
