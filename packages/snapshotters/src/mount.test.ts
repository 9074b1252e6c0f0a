import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  compactLowerdirOption,
  MS,
  mount,
  mountInfo,
  mountPointsUnder,
  pageSize,
  parseMountOptions,
  unmount,
  unmountAll,
  unmountUnder,
} from "./mount.ts";

test("options split into flags and data as containerd's table does", () => {
  expect(parseMountOptions(["ro", "rbind"])).toEqual({ flags: MS.RDONLY | MS.BIND | MS.REC, data: "" });
  expect(parseMountOptions(["rw", "rbind"])).toEqual({ flags: MS.BIND | MS.REC, data: "" });
  expect(parseMountOptions(["nosuid", "nodev", "suid", "index=off", "lowerdir=/a:/b", "defaults"])).toEqual({
    flags: MS.NODEV,
    data: "index=off,lowerdir=/a:/b",
  });
  expect(parseMountOptions(["ro", "rw", "rprivate"]).flags).toBe(MS.PRIVATE | MS.REC);
});

describe("compactLowerdirOption (containerd's mount_linux_test cases)", () => {
  test.each([
    // no lowerdir, or a single one: unchanged
    [["workdir=a", "upperdir=b"], "", ["workdir=a", "upperdir=b"]],
    [["lowerdir=/snapshots/1/fs"], "", ["lowerdir=/snapshots/1/fs"]],
    // common directory: the parent of the common prefix ("snapshots/1" and "snapshots/12")
    [
      ["workdir=w", "lowerdir=/snapshots/1/fs:/snapshots/12/fs", "upperdir=u"],
      "/snapshots/",
      ["workdir=w", "upperdir=u", "lowerdir=1/fs:12/fs"],
    ],
    [
      ["lowerdir=/a/snapshots/10/fs:/a/snapshots/2/fs:/a/snapshots/1/fs"],
      "/a/snapshots/",
      ["lowerdir=10/fs:2/fs:1/fs"],
    ],
    // a common prefix ending in "/" keeps that directory (Go's path.Dir, not node's dirname)
    [["lowerdir=/a/b/x:/a/b/y"], "/a/b/", ["lowerdir=x:y"]],
    // nothing in common below "/": unchanged
    [["lowerdir=/a/x:/b/y"], "", ["lowerdir=/a/x:/b/y"]],
    [["lowerdir=/ab/x:/ac/y"], "", ["lowerdir=/ab/x:/ac/y"]],
  ] as [string[], string, string[]][])("%j", (opts, chdir, options) => {
    expect(compactLowerdirOption(opts)).toEqual({ chdir, options });
  });
});

describe.skipIf(process.getuid?.() !== 0)("mounting (root)", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "snapshot-mount-"));
  });
  afterAll(async () => {
    const left = mountPointsUnder(dir);
    await unmountUnder(dir, { detach: true });
    rmSync(dir, { recursive: true, force: true });
    expect(left).toEqual([]);
  });

  const mkdirs = (...names: string[]) =>
    names.map((n) => {
      mkdirSync(join(dir, n), { recursive: true });
      return join(dir, n);
    });

  test("a read-only bind is remounted read-only", async () => {
    const [src, target] = mkdirs("ro-src", "ro target");
    writeFileSync(join(src!, "f"), "x");
    await mount({ type: "bind", source: src!, options: ["ro", "rbind"] }, target!);
    try {
      expect(readdirSync(target!)).toEqual(["f"]);
      expect(() => writeFileSync(join(target!, "g"), "y")).toThrow(
        expect.objectContaining({ code: "EROFS" }),
      );
      // mountinfo spells the space as \040; we read it back.
      expect(
        mountInfo()
          .find((m) => m.mountPoint === target)
          ?.options.split(","),
      ).toContain("ro");
    } finally {
      await unmount(target!);
    }
    expect(mountPointsUnder(target!)).toEqual([]);
  });

  test("an overlay whose lowerdirs exceed a page mounts with relative paths from their directory", async () => {
    const lowers: string[] = [];
    for (let i = 1; i <= 150; i++) {
      const [p] = mkdirs(`long/snapshots/${i}/fs`);
      writeFileSync(join(p!, `f${i}`), String(i));
      writeFileSync(join(p!, "top"), String(i));
      lowers.unshift(p!);
    }
    const [upper, work, target] = mkdirs("long/up", "long/work", "long/merged");
    const options = ["index=off", `workdir=${work}`, `upperdir=${upper}`, `lowerdir=${lowers.join(":")}`];
    expect(options.join(",").length).toBeGreaterThan(pageSize());
    await mount({ type: "overlay", source: "overlay", options }, target!);
    try {
      expect(readdirSync(target!).length).toBe(150 + 1);
      expect(readFileSync(join(target!, "top"), "utf8")).toBe("150");
      writeFileSync(join(target!, "new"), "n");
      expect(readFileSync(join(upper!, "new"), "utf8")).toBe("n");
    } finally {
      await unmountAll(target!);
    }
  });

  test("unmountAll undoes a stack of mounts; unmounting a non-mount is fine", async () => {
    const [a, b, target] = mkdirs("stack-a", "stack-b", "stack-t");
    await mount({ type: "bind", source: a!, options: ["rbind"] }, target!);
    await mount({ type: "bind", source: b!, options: ["ro", "rbind"] }, target!);
    expect(mountPointsUnder(target!).length).toBe(2);
    await unmountAll(target!);
    expect(mountPointsUnder(target!)).toEqual([]);
    await unmount(target!);
    await unmountAll(join(dir, "does-not-exist"));
  });

  test("unmountUnder takes every mount below a directory, deepest first", async () => {
    const [src, outer] = mkdirs("under-src", "under/outer");
    await mount({ type: "bind", source: src!, options: ["rbind"] }, outer!);
    mkdirSync(join(outer!, "inner"), { recursive: true });
    await mount({ type: "bind", source: src!, options: ["rbind"] }, join(outer!, "inner"));
    expect(await unmountUnder(join(dir, "under"))).toEqual([join(outer!, "inner"), outer!]);
    expect(mountPointsUnder(join(dir, "under"))).toEqual([]);
  });

  test("a failed mount says why, with containerd's kind for the errno", async () => {
    const [target] = mkdirs("fail-t");
    const err = await mount(
      {
        type: "overlay",
        source: "overlay",
        options: [`lowerdir=${join(dir, "nope1")}:${join(dir, "nope2")}`],
      },
      target!,
    ).catch((e) => e);
    expect(err).toMatchObject({ kind: "not found", errnoName: "ENOENT", detail: { syscall: "mount" } });
    expect(err.message).toContain(`on ${target}`);
  });
});
