import { describe, expect, test } from "bun:test";
import { FlagError, parseFlags } from "./flags.ts";
import { parseApi, parseRoute, parseService, SERVE_FLAGS, serveConfig } from "./serve-config.ts";

const parse = (argv: string[], env: Record<string, string> = {}, file?: string) =>
  serveConfig(parseFlags(argv, SERVE_FLAGS, env, file === undefined ? undefined : () => file));

function flagOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof FlagError) return e.flag;
    throw e;
  }
  throw new Error("no error");
}

describe("serve flags", () => {
  test("no flags: a TUN with the default 198.18.0.0/15 address pair, API on 127.0.0.1:7070", () => {
    const c = parse([]);
    expect(c.device).toEqual({ kind: "tun", name: "ns-tun0", explicit: false });
    expect(c.addrs.map((a) => `${a.address}/${a.prefixLen}`)).toEqual(["198.18.0.2/24"]);
    expect(c.hostAddrs.map((a) => `${a.address}/${a.prefixLen}`)).toEqual(["198.18.0.1/24"]);
    expect(c.api).toEqual({ kind: "tcp", host: "127.0.0.1", port: 7070 });
    expect(c.db).toBe("./netstack.db");
  });

  test("every contract flag parses", () => {
    const c = parse([
      "--tap",
      "tap7",
      "--addr",
      "198.18.0.3/24",
      "--addr=fd00::3/64",
      "--mac",
      "02-00-00-00-00-07",
      "--route",
      "default,198.18.0.1",
      "--route",
      "198.18.5.0/24",
      "--mtu",
      "9000",
      "--api",
      "unix:/run/netstack.sock",
      "--token-file",
      "/tmp/t",
      "--db",
      "/tmp/x.db",
      "--pcap",
      "/tmp/p.pcap",
      "--service",
      "echo",
      "--service",
      "echo/udp",
      "--service",
      "discard:7009",
    ]);
    expect(c.device).toEqual({ kind: "tap", name: "tap7", explicit: true });
    expect(c.hostAddrs).toEqual([]);
    expect(c.addrs.map((a) => a.address.toString())).toEqual(["198.18.0.3", "fd00::3"]);
    expect(c.routes.map((r) => `${r.destination} via ${r.gateway ?? "link"}`)).toEqual([
      "0.0.0.0/0 via 198.18.0.1",
      "198.18.5.0/24 via link",
    ]);
    expect(c.mtu).toBe(9000);
    expect(c.api).toEqual({ kind: "unix", path: "/run/netstack.sock" });
    expect(c.services).toEqual([
      { kind: "echo", protocol: "tcp", port: 7 },
      { kind: "echo", protocol: "udp", port: 7 },
      { kind: "discard", protocol: "tcp", port: 7009 },
    ]);
  });

  test("bad flags name the flag", () => {
    expect(flagOf(() => parse(["--bogus"]))).toBe("--bogus");
    expect(flagOf(() => parse(["--addr"]))).toBe("--addr");
    expect(flagOf(() => parse(["--addr", "198.18.0.300/24"]))).toBe("--addr");
    expect(flagOf(() => parse(["--mtu", "12"]))).toBe("--mtu");
    expect(flagOf(() => parse(["--tun", "a", "--tap", "b"]))).toBe("--tap");
    expect(flagOf(() => parse(["--tun", "this-name-is-too-long"]))).toBe("--tun");
    expect(flagOf(() => parse(["--mac", "02:00:00:00:00:01"]))).toBe("--mac");
    expect(flagOf(() => parse(["--route", "nowhere"]))).toBe("--route");
    expect(flagOf(() => parse(["--route", "198.18.5.0/24,fd00::1"]))).toBe("--route");
    expect(flagOf(() => parse(["--service", "telnet"]))).toBe("--service");
    expect(flagOf(() => parse(["--service", "echo", "--service", "discard:7"]))).toBe("--service");
    expect(flagOf(() => parse(["--api", "localhost"]))).toBe("--api");
    expect(flagOf(() => parse(["--log-level", "loud"]))).toBe("--log-level");
    expect(flagOf(() => parse(["--db", "a", "--db", "b"]))).toBe("--db");
  });

  test("environment and config file fill in; flags win", () => {
    const c = parse(
      ["--db", "/flag.db", "--config", "cfg.json"],
      { NETSTACK_ADDR: "198.18.0.9/24,fd00::9/64", NETSTACK_DB: "/env.db" },
      JSON.stringify({ mtu: 1400, service: ["http"], db: "/file.db" }),
    );
    expect(c.db).toBe("/flag.db");
    expect(c.addrs.map((a) => a.address.toString())).toEqual(["198.18.0.9", "fd00::9"]);
    expect(c.mtu).toBe(1400);
    expect(c.services).toEqual([{ kind: "http", protocol: "tcp", port: 80 }]);
    expect(flagOf(() => parse(["--config", "c"], {}, "{nope"))).toBe("--config");
    expect(flagOf(() => parse(["--config", "c"], {}, '{"colour":"red"}'))).toBe("--config");
  });

  test("--io-threads: TUN only (with or without --offload); also from the environment and the config file", () => {
    expect(parse([]).ioThreads).toBeUndefined();
    expect(parse(["--io-threads"]).ioThreads).toBe(true);
    expect(parse([], { NETSTACK_IO_THREADS: "1" }).ioThreads).toBe(true);
    expect(parse(["--config", "c"], {}, '{"io-threads":true}').ioThreads).toBe(true);
    expect(parse(["--io-threads", "--offload"])).toMatchObject({ ioThreads: true, offload: true });
    expect(flagOf(() => parse(["--io-threads", "--tap", "tap0"]))).toBe("--io-threads");
  });

  test("--io-uring: TUN or TAP without --offload or --io-threads; also from the environment and the config file", () => {
    expect(parse([]).ioUring).toBeUndefined();
    expect(parse(["--io-uring"]).ioUring).toBe(true);
    expect(parse(["--io-uring", "--tap", "tap0"]).ioUring).toBe(true);
    expect(parse([], { NETSTACK_IO_URING: "1" }).ioUring).toBe(true);
    expect(parse(["--config", "c"], {}, '{"io-uring":true}').ioUring).toBe(true);
    expect(flagOf(() => parse(["--io-uring", "--offload"]))).toBe("--io-uring");
    expect(flagOf(() => parse(["--io-uring", "--io-threads"]))).toBe("--io-uring");
  });

  test("service, route and api grammar", () => {
    expect(parseService("chargen")).toEqual({ kind: "chargen", protocol: "tcp", port: 19 });
    expect(() => parseService("chargen/udp")).toThrow(FlagError);
    expect(() => parseService("echo:0")).toThrow(FlagError);
    expect(parseRoute("default,fd00::1").destination.toString()).toBe("::/0");
    expect(parseRoute("198.18.9.9").destination.toString()).toBe("198.18.9.9/32");
    expect(parseApi("[::1]:8080")).toEqual({ kind: "tcp", host: "::1", port: 8080 });
  });
});
