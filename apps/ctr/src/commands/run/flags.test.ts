import { expect, test } from "bun:test";
import { parseFlags } from "./flags.ts";
import { runFlags } from "./container-flags.ts";

test("flags stop at the first positional word, as Go's flag package: the task keeps its own", () => {
  const p = parseFlags(runFlags, [
    "--rm",
    "-t",
    "--env",
    "A=1",
    "--env=B=2",
    "img",
    "id",
    "sh",
    "-c",
    "exit 3",
  ]);
  expect(p.flags.rm).toBe(true);
  expect(p.flags.tty).toBe(true);
  expect(p.flags.env).toEqual(["A=1", "B=2"]);
  expect(p.args).toEqual(["img", "id", "sh", "-c", "exit 3"]);
  expect(p.set.has("rm")).toBe(true);
  expect(p.set.has("cgroup")).toBe(false);
});

test("defaults, numbers, booleans with =, and --", () => {
  const p = parseFlags(runFlags, ["-cpus", "1.5", "--detach=false", "--", "-img"]);
  expect(p.flags.cpus).toBe(1.5);
  expect(p.flags["cpu-shares"]).toBe(1024);
  expect(p.flags.runtime).toBe("io.containerd.runc.v2");
  expect(p.flags.detach).toBe(false);
  expect(p.args).toEqual(["-img"]);
});

test("bad flags are named", () => {
  expect(() => parseFlags(runFlags, ["--nope"])).toThrow("flag provided but not defined: -nope");
  expect(() => parseFlags(runFlags, ["--env"])).toThrow("flag needs an argument: -env");
  expect(() => parseFlags(runFlags, ["--cpus", "lots"])).toThrow('invalid value "lots" for flag -cpus');
});

test("the snapshotter comes from $CONTAINERD_SNAPSHOTTER when the flag is absent", () => {
  process.env.CONTAINERD_SNAPSHOTTER = "native";
  try {
    expect(parseFlags(runFlags, []).flags.snapshotter).toBe("native");
    expect(parseFlags(runFlags, ["--snapshotter", "overlayfs"]).flags.snapshotter).toBe("overlayfs");
  } finally {
    delete process.env.CONTAINERD_SNAPSHOTTER;
  }
});
