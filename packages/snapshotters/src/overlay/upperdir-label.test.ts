/** upperdir_label: stat, update and walk carry containerd.io/snapshot/overlay.upperdir. As in
 *  containerd, it is added after filtering and never stored. */
import { afterEach, beforeEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { collect } from "../testsuite/harness.ts";
import { OverlaySnapshotter, UPPERDIR_LABEL } from "./overlay.ts";

let dir: string;
let sn: OverlaySnapshotter;
beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), "snapshot-overlay-label-"));
  sn = await OverlaySnapshotter.open(join(dir, "root"), { upperdirLabel: true });
});
afterEach(async () => {
  await sn.close();
  rmSync(dir, { recursive: true, force: true });
});

test("stat, update and walk show the upper directory", async () => {
  await sn.prepare("a", "", { labels: { x: "1" } });
  const upper = join(dir, "root", "snapshots", "1", "fs");
  expect((await sn.stat("a")).labels).toEqual({ x: "1", [UPPERDIR_LABEL]: upper });
  const updated = await sn.update({ ...(await sn.stat("a")), labels: { y: "2" } });
  expect(updated.labels).toEqual({ y: "2", [UPPERDIR_LABEL]: upper });
  expect((await collect(sn.walk())).map((i) => i.labels)).toEqual([{ y: "2", [UPPERDIR_LABEL]: upper }]);
  expect(await collect(sn.walk([`labels."${UPPERDIR_LABEL}"`]))).toEqual([]);
});

test("the label is not stored: updating with it given back keeps only what was set", async () => {
  await sn.prepare("a");
  const info = await sn.stat("a");
  await sn.update(info);
  await sn.close();
  sn = await OverlaySnapshotter.open(join(dir, "root"));
  expect((await sn.stat("a")).labels).toEqual({
    [UPPERDIR_LABEL]: join(dir, "root", "snapshots", "1", "fs"),
  });
});
