/** The mounts overlayfs returns, option for option as containerd 1.6.20 returns them (checked
 *  against `ctr snapshots mounts` on containerd 1.6.20: index=off first, workdir before upperdir,
 *  lowerdir last with the immediate parent first), and the directories behind them. */
import { afterEach, beforeEach, expect, test } from "bun:test";
import { chownSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { compactLowerdirOption, pageSize } from "../mount.ts";
import { type OverlayOptions, OverlaySnapshotter } from "./overlay.ts";

let dir: string;
let sn: OverlaySnapshotter | undefined;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "snapshot-overlay-"));
});
afterEach(async () => {
  await sn?.close();
  sn = undefined;
  rmSync(dir, { recursive: true, force: true });
});

const open = async (opts: OverlayOptions = {}) => {
  sn = await OverlaySnapshotter.open(join(dir, "root"), { indexOff: true, userxattr: false, ...opts });
  return sn;
};
const fs = (id: number) => join(dir, "root", "snapshots", String(id), "fs");
const work = (id: number) => join(dir, "root", "snapshots", String(id), "work");

test("containerd's shapes: bind without parent, ro bind of a single parent, overlay otherwise", async () => {
  const s = await open();
  expect(await s.prepare("a1")).toEqual([{ type: "bind", source: fs(1), options: ["rw", "rbind"] }]);
  expect(await s.view("v0")).toEqual([{ type: "bind", source: fs(2), options: ["ro", "rbind"] }]);
  await s.commit("c1", "a1");
  expect(await s.prepare("a2", "c1")).toEqual([
    {
      type: "overlay",
      source: "overlay",
      options: ["index=off", `workdir=${work(3)}`, `upperdir=${fs(3)}`, `lowerdir=${fs(1)}`],
    },
  ]);
  expect(await s.view("v1", "c1")).toEqual([{ type: "bind", source: fs(1), options: ["ro", "rbind"] }]);
  await s.commit("c2", "a2");
  expect(await s.view("v2", "c2")).toEqual([
    { type: "overlay", source: "overlay", options: ["index=off", `lowerdir=${fs(3)}:${fs(1)}`] },
  ]);
  expect(await s.mounts("v2")).toEqual(await s.mounts("v2"));
  expect(await s.mounts("a1").catch(() => "gone")).toBe("gone");
});

test("index=off follows the overlay module; userxattr after it; mount_options last, overlay only", async () => {
  const s = await open({ indexOff: undefined, userxattr: true, mountOptions: ["nodev", "metacopy=off"] });
  await s.prepare("a");
  await s.commit("c", "a");
  expect(await s.prepare("b")).toEqual([{ type: "bind", source: fs(2), options: ["rw", "rbind"] }]);
  const [m] = await s.prepare("x", "c");
  const index = statSync("/sys/module/overlay/parameters/index", { throwIfNoEntry: false })
    ? ["index=off"]
    : [];
  expect(m!.options).toEqual([
    ...index,
    "userxattr",
    `workdir=${work(3)}`,
    `upperdir=${fs(3)}`,
    `lowerdir=${fs(1)}`,
    "nodev",
    "metacopy=off",
  ]);
});

test("mount_options that set index or userxattr replace the detected ones", async () => {
  const s = await open({ indexOff: true, userxattr: true, mountOptions: ["index=on", "userxattr"] });
  await s.prepare("a");
  await s.commit("c", "a");
  const [m] = await s.view("v", "c");
  expect(m!.type).toBe("bind");
  await s.prepare("b", "c");
  await s.commit("c2", "b");
  expect((await s.view("v2", "c2"))[0]!.options).toEqual([
    `lowerdir=${fs(3)}:${fs(1)}`,
    "index=on",
    "userxattr",
  ]);
});

test("directories as containerd makes them: snapshot 0700, fs 0755, work 0711 for active only", async () => {
  const s = await open();
  await s.prepare("a");
  await s.view("v");
  const mode = (p: string) => statSync(p).mode & 0o777;
  const umask = process.umask();
  expect(mode(join(dir, "root"))).toBe(0o700);
  expect(mode(join(dir, "root", "snapshots"))).toBe(0o700);
  expect(mode(join(dir, "root", "snapshots", "1"))).toBe(0o700);
  expect(mode(fs(1))).toBe(0o755 & ~umask);
  expect(mode(work(1))).toBe(0o711 & ~umask);
  expect(statSync(work(2), { throwIfNoEntry: false })).toBeUndefined();
  expect(statSync(join(dir, "root", "metadata.db")).isFile()).toBe(true);
});

test.skipIf(process.getuid?.() !== 0)("a child's upper directory belongs to the parent's owner", async () => {
  const s = await open();
  await s.prepare("a");
  chownSync(fs(1), 1000, 1001);
  await s.commit("c", "a");
  await s.prepare("b", "c");
  expect([statSync(fs(2)).uid, statSync(fs(2)).gid]).toEqual([1000, 1001]);
});

test("a refused create leaves nothing behind", async () => {
  const s = await open();
  await s.prepare("a");
  await expect(s.prepare("a")).rejects.toThrow("failed to create snapshot: snapshot a: already exists");
  await expect(s.view("x", "missing")).rejects.toThrow('missing parent "missing" bucket');
  expect(readdirSync(join(dir, "root", "snapshots"))).toEqual(["1"]);
});

test("128 layers: the lowerdir list exceeds a page, and compacts to paths relative to snapshots/", async () => {
  const s = await open();
  let parent = "";
  for (let i = 1; i <= 128; i++) {
    await s.prepare(`a${i}`, parent);
    await s.commit(`c${i}`, `a${i}`);
    parent = `c${i}`;
  }
  const [m] = await s.view("top", parent);
  const lower = m!.options.find((o) => o.startsWith("lowerdir="))!;
  expect(lower.split(":").length).toBe(128);
  expect(m!.options.join(",").length).toBeGreaterThan(pageSize() - 512);
  const { chdir, options } = compactLowerdirOption(m!.options);
  expect(chdir).toBe(`${join(dir, "root", "snapshots")}/`);
  expect(options.at(-1)!.startsWith("lowerdir=128/fs:127/fs:126/fs:")).toBe(true);
  expect(options.join(",").length).toBeLessThan(pageSize());
});
