import { afterEach, beforeEach, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Code } from "@bunkerd/plugin-api";
import { mountsUnder } from "../../sys/process.ts";
import { deleteBundle, newBundle } from "./bundle.ts";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync("/tmp/bk-bundle-");
});
afterEach(() => {
  for (const m of mountsUnder(dir)) Bun.spawnSync(["umount", "-l", m]);
  rmSync(dir, { recursive: true, force: true });
});

const spec = new Uint8Array([123, 125]);

test("a bundle that exists already is refused, and the existing one is left as it was", () => {
  const b = newBundle(join(dir, "root"), join(dir, "state"), "default", "c1", spec);
  writeFileSync(join(b.path, "address"), "unix:///x");
  try {
    newBundle(join(dir, "root"), join(dir, "state"), "default", "c1", spec);
    throw new Error("created twice");
  } catch (e) {
    expect((e as { code: number }).code).toBe(Code.AlreadyExists);
  }
  expect(existsSync(join(b.path, "address"))).toBe(true);
  expect(existsSync(join(dir, "root", "default", "c1"))).toBe(true);
});

test("a work dir left from before is replaced", () => {
  mkdirSync(join(dir, "root", "default", "c1"), { recursive: true });
  writeFileSync(join(dir, "root", "default", "c1", "stale"), "x");
  newBundle(join(dir, "root"), join(dir, "state"), "default", "c1", spec);
  expect(existsSync(join(dir, "root", "default", "c1", "stale"))).toBe(false);
});

test.skipIf(process.getuid?.() !== 0)(
  "delete unmounts the rootfs first, then removes bundle and work dir",
  () => {
    const b = newBundle(join(dir, "root"), join(dir, "state"), "default", "c1", spec);
    const rootfs = join(b.path, "rootfs");
    expect(Bun.spawnSync(["mount", "-t", "tmpfs", "tmpfs", rootfs]).exitCode).toBe(0);
    writeFileSync(join(rootfs, "file"), "in the mount");
    deleteBundle(b);
    expect(mountsUnder(dir)).toEqual([]);
    expect(existsSync(b.path)).toBe(false);
    expect(existsSync(join(dir, "root", "default", "c1"))).toBe(false);
  },
);
