import { expect, test } from "bun:test";
import { parseShimAddress, resolveShimBinary, shimBinaryName, shimCommand } from "./binary.ts";

test.each([
  ["io.containerd.runc.v2", "containerd-shim-runc-v2"],
  ["io.containerd.bunker.v2", "containerd-shim-bunker-v2"],
  ["io.containerd.runc.v1", "containerd-shim-runc-v1"],
  ["example.v3", "containerd-shim-example-v3"],
  ["runc", ""],
])("runtime %s runs %s", (runtime, binary) => {
  expect(shimBinaryName(runtime)).toBe(binary);
});

test("a runtime without a binary is refused with containerd's wording", () => {
  expect(() => resolveShimBinary("runc", "/usr/local/bin/bunkerd")).toThrow(/invalid runtime name runc/);
  try {
    resolveShimBinary("io.containerd.nosuch.v7", "/usr/local/bin/bunkerd");
    throw new Error("resolved");
  } catch (e) {
    expect((e as Error).message).toBe(
      'runtime "io.containerd.nosuch.v7" binary not installed "containerd-shim-nosuch-v7": file does not exist',
    );
  }
  // An absolute path is taken as the binary itself (ctr run --runtime /path/to/shim).
  expect(resolveShimBinary("/opt/shims/my-shim", "/x/bunkerd")).toBe("/opt/shims/my-shim");
});

test.each([
  ["unix:///run/containerd/s/abc\n", "/run/containerd/s/abc"],
  ["/run/bunkerd/s/abc", "/run/bunkerd/s/abc"],
  ['{"version":2,"address":"unix:///run/containerd/s/x","protocol":"ttrpc"}', "/run/containerd/s/x"],
  ["ttrpc+unix:///run/s/y", "/run/s/y"],
])("start output %j → socket %s", (out, path) => {
  expect(parseShimAddress(out)).toBe(path);
});

test("empty output or a non-ttrpc bootstrap is an error", () => {
  expect(() => parseShimAddress("  \n")).toThrow(/no address/);
  expect(() => parseShimAddress('{"version":2,"address":"x","protocol":"grpc"}')).toThrow(
    /unsupported shim protocol grpc/,
  );
});

test("the command line and environment containerd 1.6.20 gives a shim", () => {
  const cmd = shimCommand(
    {
      runtime: "io.containerd.runc.v2",
      namespace: "k8s.io",
      address: "/run/bunkerd/bunkerd.sock",
      ttrpcAddress: "/run/bunkerd/bunkerd.sock.ttrpc",
      publishBinary: "/usr/local/bin/bunkerd",
      bundle: "/run/bunkerd/io.containerd.runtime.v2.task/k8s.io/c1",
      schedCore: true,
    },
    "/usr/bin/containerd-shim-runc-v2",
    ["-id", "c1", "start"],
  );
  expect(cmd.argv).toEqual([
    "/usr/bin/containerd-shim-runc-v2",
    "-namespace",
    "k8s.io",
    "-address",
    "/run/bunkerd/bunkerd.sock",
    "-publish-binary",
    "/usr/local/bin/bunkerd",
    "-id",
    "c1",
    "start",
  ]);
  expect(cmd.cwd).toBe("/run/bunkerd/io.containerd.runtime.v2.task/k8s.io/c1");
  expect([cmd.env.GOMAXPROCS, cmd.env.TTRPC_ADDRESS, cmd.env.SCHED_CORE]).toEqual([
    "2",
    "/run/bunkerd/bunkerd.sock.ttrpc",
    "1",
  ]);
  expect(cmd.env.PATH).toBe(process.env.PATH!);
});
