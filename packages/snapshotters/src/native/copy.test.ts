/** The copy behind every native snapshot keeps what a root filesystem needs. */
import { dlopen, FFIType, ptr } from "bun:ffi";
import { afterEach, beforeEach, expect, test } from "bun:test";
import {
  chmodSync,
  chownSync,
  linkSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { copyDir } from "./copy.ts";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "snapshot-copy-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const libc = dlopen("libc.so.6", {
  lsetxattr: {
    args: [FFIType.ptr, FFIType.ptr, FFIType.ptr, FFIType.u64, FFIType.i32],
    returns: FFIType.i32,
  },
  lgetxattr: { args: [FFIType.ptr, FFIType.ptr, FFIType.ptr, FFIType.u64], returns: FFIType.i64 },
}).symbols;
const z = (s: string) => new TextEncoder().encode(`${s}\0`);
const setXattr = (p: string, k: string, v: Uint8Array) =>
  libc.lsetxattr(ptr(z(p)), ptr(z(k)), ptr(v), v.length, 0);
function getXattr(p: string, k: string): Uint8Array | undefined {
  const buf = new Uint8Array(256);
  const n = Number(libc.lgetxattr(ptr(z(p)), ptr(z(k)), ptr(buf), buf.length));
  return n < 0 ? undefined : buf.slice(0, n);
}

test.skipIf(process.getuid?.() !== 0)(
  "modes, owners, times, xattrs, hard links, symlinks and devices survive, the root's included",
  async () => {
    const src = join(dir, "src");
    const dst = join(dir, "dst");
    mkdirSync(src, { mode: 0o755 });
    mkdirSync(dst, { mode: 0o700 });
    mkdirSync(join(src, "etc"));
    writeFileSync(join(src, "etc/passwd"), "root:x:0:0\n");
    // chown clears set-uid: own first.
    chownSync(join(src, "etc/passwd"), 1000, 1001);
    chmodSync(join(src, "etc/passwd"), 0o4755);
    linkSync(join(src, "etc/passwd"), join(src, "hardlink"));
    symlinkSync("etc/passwd", join(src, "symlink"));
    const cap = new Uint8Array([1, 0, 0, 2, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    expect(setXattr(join(src, "etc/passwd"), "security.capability", cap)).toBe(0);
    expect(setXattr(join(src, "etc"), "user.dir", new Uint8Array([0xff, 0x00, 0x80]))).toBe(0);
    const mknod = Bun.spawnSync(["mknod", join(src, "null"), "c", "1", "3"]);
    expect(mknod.exitCode).toBe(0);
    utimesSync(join(src, "etc/passwd"), 1_000_000, 1_000_000);
    chmodSync(src, 0o751);
    utimesSync(src, 2_000_000, 2_000_000);

    await copyDir(dst, src);

    const st = (p: string) => lstatSync(join(dst, p));
    expect(st("").mode & 0o7777).toBe(0o751);
    expect(st("").mtimeMs).toBe(2_000_000_000);
    expect(st("etc/passwd").mode & 0o7777).toBe(0o4755);
    expect([st("etc/passwd").uid, st("etc/passwd").gid]).toEqual([1000, 1001]);
    expect(st("etc/passwd").mtimeMs).toBe(1_000_000_000);
    expect(st("hardlink").ino).toBe(st("etc/passwd").ino);
    expect(readlinkSync(join(dst, "symlink"))).toBe("etc/passwd");
    expect(st("null").isCharacterDevice()).toBe(true);
    expect(st("null").rdev).toBe(lstatSync(join(src, "null")).rdev);
    expect(getXattr(join(dst, "etc/passwd"), "security.capability")).toEqual(cap);
    expect(getXattr(join(dst, "etc"), "user.dir")).toEqual(new Uint8Array([0xff, 0x00, 0x80]));
  },
);

test("a failed copy says what failed", async () => {
  await expect(copyDir(join(dir, "missing-dst"), join(dir, "missing-src"))).rejects.toThrow(
    `failed to copy ${join(dir, "missing-src")}`,
  );
});
