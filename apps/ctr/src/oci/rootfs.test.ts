import { afterAll, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { directoryFiles, readonlyMount, rootPath } from "./rootfs.ts";

const dir = mkdtempSync(join(tmpdir(), "bctr-rootfs-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("an overlay goes read-only: its upperdir becomes the top lowerdir, workdir dropped", () => {
  expect(
    readonlyMount({
      type: "overlay",
      source: "overlay",
      options: ["index=off", "workdir=/w", "upperdir=/u", "lowerdir=/l1:/l2"],
    }),
  ).toEqual({ type: "overlay", source: "overlay", options: ["index=off", "lowerdir=/u:/l1:/l2"] });
  // One directory alone cannot be an overlay: it is bound read-only.
  expect(
    readonlyMount({ type: "overlay", source: "overlay", options: ["workdir=/w", "upperdir=/u"] }),
  ).toEqual({
    type: "bind",
    source: "/u",
    options: ["rbind", "ro"],
  });
  expect(readonlyMount({ type: "bind", source: "/s", options: ["rbind", "rw"] }).options).toEqual([
    "rbind",
    "ro",
  ]);
});

test("paths resolve inside the rootfs: absolute symlinks and .. cannot leave it", async () => {
  mkdirSync(join(dir, "etc"));
  mkdirSync(join(dir, "real"));
  writeFileSync(join(dir, "real/passwd"), "root:x:0:0::/:/bin/sh\n");
  symlinkSync("/real/passwd", join(dir, "etc/passwd"));
  symlinkSync("../../../../etc/hostname", join(dir, "etc/group"));
  expect(rootPath(dir, "/etc/passwd")).toBe(join(dir, "real/passwd"));
  expect(rootPath(dir, "/etc/group")).toBe(join(dir, "etc/hostname"));
  const files = directoryFiles(dir);
  expect(await files.read("/etc/passwd")).toBe("root:x:0:0::/:/bin/sh\n");
  expect(await files.read("/etc/group")).toBeUndefined();
});
