/** Removal: the record goes at once; the directories with it under `sync_remove`, otherwise at
 *  the next `cleanup()` (containerd 1.6 always removes asynchronously; 1.7 added sync_remove). */
import { afterEach, beforeEach, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { OverlaySnapshotter } from "./overlay.ts";

let dir: string;
let sn: OverlaySnapshotter | undefined;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "snapshot-overlay-rm-"));
});
afterEach(async () => {
  await sn?.close();
  sn = undefined;
  rmSync(dir, { recursive: true, force: true });
});

const snapshots = () => readdirSync(join(dir, "root", "snapshots")).sort();

test("by default the directory stays until cleanup, which removes every directory without a record", async () => {
  sn = await OverlaySnapshotter.open(join(dir, "root"));
  await sn.prepare("a");
  await sn.prepare("b");
  await sn.remove("a");
  await expect(sn.stat("a")).rejects.toMatchObject({ kind: "not found" });
  expect(snapshots()).toEqual(["1", "2"]);
  // A crash can leave a half-made snapshot, or anything else, behind.
  mkdirSync(join(dir, "root", "snapshots", "new-abc123", "fs"), { recursive: true });
  await sn.cleanup();
  expect(snapshots()).toEqual(["2"]);
  expect((await sn.mounts("b"))[0]!.source).toBe(join(dir, "root", "snapshots", "2", "fs"));
});

test("sync_remove removes the directories with the record", async () => {
  sn = await OverlaySnapshotter.open(join(dir, "root"), { syncRemove: true });
  await sn.prepare("a");
  await sn.commit("c", "a");
  await sn.prepare("b", "c");
  await expect(sn.remove("c")).rejects.toMatchObject({ kind: "failed precondition" });
  expect(snapshots()).toEqual(["1", "2"]);
  await sn.remove("b");
  expect(snapshots()).toEqual(["1"]);
  await sn.remove("c");
  expect(snapshots()).toEqual([]);
  expect(existsSync(join(dir, "root", "metadata.db"))).toBe(true);
});
