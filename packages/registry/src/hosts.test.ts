/** hosts.toml and the defaults, after containerd's config/hosts_test.go. */

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { configureHosts, hostPaths, isLocalhost, parseHostsFile } from "./hosts.ts";

let root: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), "registry-hosts-"));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

const write = (dir: string, file: string, text: string) => {
  mkdirSync(join(root, dir), { recursive: true });
  writeFileSync(join(root, dir, file), text);
};

describe("defaults without configuration", () => {
  test("docker.io goes to registry-1.docker.io over https", () => {
    expect(configureHosts("docker.io")).toEqual([
      {
        scheme: "https",
        host: "registry-1.docker.io",
        path: "/v2",
        capabilities: ["pull", "resolve", "push"],
      },
    ]);
  });
  test("another registry is https on its own name", () => {
    expect(configureHosts("registry.example.com:5000")[0]).toMatchObject({
      scheme: "https",
      host: "registry.example.com:5000",
    });
  });
  test("plainHttp makes the default scheme http", () => {
    expect(configureHosts("registry.example.com", { plainHttp: true })[0]!.scheme).toBe("http");
  });
  test.each(["localhost", "localhost:5000", "127.0.0.1:5000", "127.1.2.3", "[::1]:5000", "::1"])(
    "loopback %s is plain http without verification (containerd ≥ 1.6.9)",
    (ns) => {
      expect(configureHosts(ns)[0]).toMatchObject({ scheme: "http", host: ns, skipVerify: true });
    },
  );
  test("isLocalhost refuses other names", () => {
    expect(isLocalhost("localhost.example.com")).toBe(false);
    expect(isLocalhost("10.0.0.1:5000")).toBe(false);
  });
});

describe("hosts.toml", () => {
  test("mirrors in file order, then the server; paths, capabilities, TLS and headers", () => {
    write(
      "docker.io",
      "hosts.toml",
      `server = "https://registry-1.docker.io"

[host."https://z-mirror.example.com"]
  capabilities = ["pull"]
  ca = "z.crt"
  header = { "x-custom" = "1", "x-list" = ["a", "b"] }

[host."http://a-mirror.example.com:5000/prefix"]
  capabilities = ["pull", "resolve"]
  skip_verify = true
  client = [["/abs/c.cert", "c.key"]]

[host."https://override.example.com/custom/api"]
  override_path = true
  ca = ["/abs/one.crt", "two.crt"]
  client = "both.pem"
`,
    );
    const hosts = configureHosts("docker.io", { hostsDir: root });
    const dir = join(root, "docker.io");
    expect(hosts).toEqual([
      {
        scheme: "https",
        host: "z-mirror.example.com",
        path: "/v2",
        capabilities: ["pull"],
        ca: [join(dir, "z.crt")],
        header: { "x-custom": ["1"], "x-list": ["a", "b"] },
      },
      {
        scheme: "http",
        host: "a-mirror.example.com:5000",
        path: "/prefix/v2",
        capabilities: ["pull", "resolve"],
        skipVerify: true,
        client: [["/abs/c.cert", join(dir, "c.key")]],
      },
      {
        scheme: "https",
        host: "override.example.com",
        path: "/custom/api",
        capabilities: ["pull", "resolve", "push"],
        ca: ["/abs/one.crt", join(dir, "two.crt")],
        client: [[join(dir, "both.pem"), ""]],
      },
      {
        scheme: "https",
        host: "registry-1.docker.io",
        path: "/v2",
        capabilities: ["pull", "resolve", "push"],
      },
    ]);
  });

  test("a ported host's directory; root keys without a [host] table apply to the namespace", () => {
    write("127.0.0.1:5443", "hosts.toml", `ca = "/etc/ca.crt"\nskip_verify = false\n`);
    const [h] = configureHosts("127.0.0.1:5443", { hostsDir: root });
    // No server: the namespace, and loopback means http with verification off, as containerd has it.
    expect(h).toMatchObject({
      scheme: "http",
      host: "127.0.0.1:5443",
      ca: ["/etc/ca.crt"],
      skipVerify: true,
    });
  });

  test("server without scheme is https; /v2 is not doubled", () => {
    write("reg.example.com", "hosts.toml", `server = "reg.example.com:8443/v2"\n`);
    expect(configureHosts("reg.example.com", { hostsDir: root })).toEqual([
      {
        scheme: "https",
        host: "reg.example.com:8443",
        path: "/v2",
        capabilities: ["pull", "resolve", "push"],
      },
    ]);
  });

  test("host_port_ directories and _default are found, in containerd's order", () => {
    expect(hostPaths("/r", "h:5000")).toEqual(["/r/h_5000_", "/r/h:5000", "/r/_default"]);
    write("_default", "hosts.toml", `[host."https://fallback.example.com"]\ncapabilities = ["pull"]\n`);
    const hosts = configureHosts("unknown.example.com", { hostsDir: root });
    expect(hosts.map((h) => h.host)).toEqual(["fallback.example.com", "unknown.example.com"]);
  });

  test("without hosts.toml, docker-style certificate files are used", () => {
    write("certs.example.com", "ca.crt", "x");
    write("certs.example.com", "client.cert", "x");
    write("certs.example.com", "client.key", "x");
    const [h] = configureHosts("certs.example.com", { hostsDir: root });
    const dir = join(root, "certs.example.com");
    expect(h).toMatchObject({
      scheme: "https",
      host: "certs.example.com",
      ca: [join(dir, "ca.crt")],
      client: [[join(dir, "client.cert"), join(dir, "client.key")]],
    });
  });

  test.each([
    [`capabilities = ["pull", "fly"]`, "unknown capability"],
    [`skip_verify = "yes"`, "skip_verify must be a boolean"],
    [`ca = 3`, "ca: must be a list of strings"],
    [`client = [["a"]]`, "must be a [cert, key] pair"],
    [`[host]\nx = 1`, "must be a table"],
    [`server = `, "failed to parse TOML"],
  ])("%p is refused naming the field", (text, message) => {
    expect(() => parseHostsFile("/d", text)).toThrow(message);
  });
});
