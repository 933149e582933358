/**
 * UDP between the Linux kernel and the user-space stack over TUN (RFC 768),
 * IPv4 and IPv6: the kernel's socat against the stack's echo service
 * (RFC 862), the stack against a kernel echo socket, and a datagram to a
 * closed kernel port: the kernel's port unreachable (RFC 1122 §4.1.3.3,
 * RFC 4443 §3.1) turns into ErrConnectionRefused on the connected endpoint's
 * next call, once.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import {
  BUN,
  canNetns,
  closeAll,
  KERNEL_TOOL,
  type Link,
  openLink,
  reachable,
  socatAddr,
} from "./harness.ts";

describe.skipIf(!canNetns)("UDP, kernel and user-space stack over TUN", () => {
  let link: Link;
  beforeAll(async () => {
    link = await openLink({ mode: "tun" });
    await link.driver.cmd("service", { kind: "echo", protocol: "udp", port: 7 });
    await reachable(link, link.stack4);
    await reachable(link, link.stack6);
  }, 40_000);
  afterAll(() => closeAll());

  for (const family of ["IPv4", "IPv6"] as const) {
    const stack = () => (family === "IPv4" ? link.stack4 : link.stack6);
    const kernel = () => (family === "IPv4" ? link.kernel4 : link.kernel6);

    test(`the kernel's socat gets its datagram back from the stack's echo service (${family})`, async () => {
      const r = await link.run(["socat", "-t", "2", "-", socatAddr("UDP", stack(), 7)], {
        stdin: `datagram over ${family}\n`,
      });
      expect(r.stdout).toBe(`datagram over ${family}\n`);
    });

    test(`the stack's datagram comes back from a kernel echo socket (${family})`, async () => {
      const port = family === "IPv4" ? 5007 : 5008;
      const echo = link.spawn([BUN, KERNEL_TOOL, "udp-echo", kernel(), String(port)]);
      for (let i = 0; i < 200 && !echo.stdout().includes("listening"); i++) await Bun.sleep(25);
      const r = await link.driver.cmd<{ reply: string; from: string }>("udp", {
        to: kernel(),
        port,
        text: `from user space over ${family}`,
      });
      expect(r).toEqual({ reply: `from user space over ${family}`, from: `${kernel()}:${port}` });
      echo.proc.kill();
    });

    test(`8000-byte datagrams (fragmented at MTU 1500) both ways (${family})`, async () => {
      const big = `${"0123456789".repeat(800)}`;
      const k = await link.run(["socat", "-t", "2", "-b", "65536", "-", socatAddr("UDP", stack(), 7)], {
        stdin: big,
      });
      expect(k.stdout).toBe(big);
      const port = family === "IPv4" ? 5017 : 5018;
      const echo = link.spawn([BUN, KERNEL_TOOL, "udp-echo", kernel(), String(port)]);
      for (let i = 0; i < 200 && !echo.stdout().includes("listening"); i++) await Bun.sleep(25);
      const s = await link.driver.cmd<{ reply: string }>("udp", { to: kernel(), port, text: big });
      expect(s.reply).toBe(big);
      echo.proc.kill();
    });

    test(`the kernel's connected socket gets ECONNREFUSED from the stack's port unreachable (${family})`, async () => {
      // RFC 1122 §4.1.3.1 / RFC 4443 §3.1: a datagram to a port nobody listens on draws a port unreachable.
      const py = `
import socket, sys
fam = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
s = socket.socket(fam, socket.SOCK_DGRAM)
s.connect((sys.argv[1], 4444))
s.settimeout(3)
s.send(b"anyone there?")
try:
    s.recv(100)
    print("data")
except ConnectionRefusedError:
    print("ECONNREFUSED")
except socket.timeout:
    print("timeout")
`;
      const r = await link.run(["python3", "-c", py, stack()]);
      expect(r.stdout.trim()).toBe("ECONNREFUSED");
    });

    test(`a datagram to a closed kernel port: the next call throws ErrConnectionRefused (${family})`, async () => {
      const r = await link.driver.cmd("udpRefused", { to: kernel(), port: 5999 });
      expect(r).toEqual({ first: "ok", next: "ErrConnectionRefused", after: "ok" });
    });
  }
});
