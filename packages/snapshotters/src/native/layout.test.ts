/** The native snapshotter's directories and mounts, as containerd's: a copy per active snapshot,
 *  bind mounts only, a view of a committed snapshot bound read-only from the parent itself. */
import { afterEach, beforeEach, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NativeSnapshotter } from "./native.ts";

let dir: string;
let sn: NativeSnapshotter;
beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), "snapshot-native-"));
  sn = await NativeSnapshotter.open(join(dir, "root"));
});
afterEach(async () => {
  await sn.close();
  rmSync(dir, { recursive: true, force: true });
});

const snap = (id: number) => join(dir, "root", "snapshots", String(id));
const snapshots = () => readdirSync(join(dir, "root", "snapshots")).sort();

test("mounts: rw bind of its own copy, ro bind of the parent for a view", async () => {
  expect(await sn.prepare("a")).toEqual([{ type: "bind", source: snap(1), options: ["rw", "rbind"] }]);
  writeFileSync(join(snap(1), "f"), "from a");
  expect(await sn.view("v0")).toEqual([{ type: "bind", source: snap(2), options: ["ro", "rbind"] }]);
  await sn.commit("c", "a");
  expect(await sn.prepare("b", "c")).toEqual([{ type: "bind", source: snap(3), options: ["rw", "rbind"] }]);
  expect(readdirSync(snap(3))).toEqual(["f"]);
  expect(await sn.view("v", "c")).toEqual([{ type: "bind", source: snap(1), options: ["ro", "rbind"] }]);
  // The view of a committed snapshot has no directory of its own.
  expect(snapshots()).toEqual(["1", "2", "3"]);
  await expect(sn.mounts("c")).rejects.toThrow(
    "failed to get snapshot mount: requested snapshot c not active or view: failed precondition",
  );
});

test("remove deletes the directory; cleanup removes what has no record", async () => {
  await sn.prepare("a");
  await sn.prepare("b");
  await sn.remove("a");
  expect(snapshots()).toEqual(["2"]);
  mkdirSync(join(dir, "root", "snapshots", "rm-7"));
  mkdirSync(join(dir, "root", "snapshots", "new-xyz"));
  await sn.cleanup();
  expect(snapshots()).toEqual(["2"]);
});

test("cleanup while a parent is being copied leaves the copy alone", async () => {
  await sn.prepare("a");
  for (let i = 0; i < 200; i++) writeFileSync(join(snap(1), `f${i}`), String(i));
  await sn.commit("c", "a");
  const preparing = sn.prepare("b", "c");
  await sn.cleanup();
  expect(await preparing).toEqual([{ type: "bind", source: snap(2), options: ["rw", "rbind"] }]);
  expect(readdirSync(snap(2)).length).toBe(200);
  expect(snapshots()).toEqual(["1", "2"]);
});

test("a refused create copies nothing and leaves nothing behind", async () => {
  await sn.prepare("a");
  await expect(sn.prepare("a")).rejects.toThrow("failed to create snapshot: snapshot a: already exists");
  await expect(sn.prepare("x", "a")).rejects.toThrow(
    'parent "a" is not committed snapshot: invalid argument',
  );
  expect(snapshots()).toEqual(["1"]);
});
