/** bctr snapshots against bunkerd and containerd 1.6 on an unpacked busybox: ls/tree/usage as
 *  Go ctr prints them; prepare/view (--mounts JSON, -t mount commands), mounts, commit, info,
 *  label, diff (a gzip layer on stdout), rm; the group's --snapshotter flag. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { gunzipSync } from "node:zlib";
import { importBusybox } from "../harness/busybox.ts";
import { type DaemonHandle, hasBinary, isRoot, startDaemon } from "../harness/daemon.ts";
import { BCTR, bctrAt, KINDS, ok } from "./harness.ts";

const ready = isRoot && hasBinary("ctr") && hasBinary("containerd");

for (const kind of KINDS) {
  describe.skipIf(!ready)(`bctr snapshots against ${kind}`, () => {
    let d: DaemonHandle;
    let bctr: ReturnType<typeof bctrAt>;
    let base: string;
    beforeAll(async () => {
      d = await startDaemon(kind);
      bctr = bctrAt(d);
      const img = await importBusybox(d);
      base = img.diffIds[0]!;
    }, 60_000);
    afterAll(async () => {
      await d?.stop();
    });

    test("prepare, view, commit; ls, tree and usage print Go ctr's tables", async () => {
      const mounts = JSON.parse(ok(await bctr(["snapshots", "prepare", "--mounts", "work", base])));
      expect(mounts[0]).toMatchObject({ Type: "overlay", Source: "overlay" });
      expect(mounts[0].Options.join(",")).toContain("lowerdir=");
      const cmd = ok(await bctr(["snapshots", "view", "-t", "/mnt/x", "ro-view", base]));
      expect(cmd).toMatch(/^mount -t bind \S+ \/mnt\/x -o ro,rbind\n$/);
      expect(ok(await bctr(["snapshots", "mounts", "/mnt/y", "work"]))).toBe(
        ok(await d.ctr(["snapshots", "mounts", "/mnt/y", "work"])),
      );
      ok(await bctr(["snapshots", "prepare", "work2", base]));
      ok(await bctr(["snapshots", "commit", "layer2", "work2"]));
      for (const verb of [["ls"], ["tree"], ["usage"], ["usage", "-b"]]) {
        expect(ok(await bctr(["snapshots", ...verb]))).toBe(ok(await d.ctr(["snapshots", ...verb])));
      }
      expect(ok(await bctr(["snapshot", "list", "-q"])).split("\n")).toEqual(
        expect.arrayContaining(["work", "layer2", base]),
      );
      const json = JSON.parse(ok(await bctr(["snapshots", "ls", "--format", "json"])));
      // Go ctr roots what it creates (containerd.io/gc.root), so the collector keeps it.
      expect(json.find((s: { key: string }) => s.key === "layer2")).toEqual({
        key: "layer2",
        parent: base,
        kind: "Committed",
        labels: { "containerd.io/gc.root": expect.stringMatching(/Z$/) },
      });
    });

    test("info and label: Go ctr's JSON, labels set and cleared", async () => {
      expect(ok(await bctr(["snapshots", "label", "layer2", "a=1", "b=2"]))).toMatch(
        /^a=1,b=2,containerd\.io\/gc\.root=\S+Z\n$/,
      );
      expect(ok(await bctr(["snapshots", "label", "layer2", "a="]))).toMatch(
        /^b=2,containerd\.io\/gc\.root=\S+Z\n$/,
      );
      const info = JSON.parse(ok(await bctr(["snapshots", "info", "layer2"])));
      expect(info).toEqual(JSON.parse(ok(await d.ctr(["snapshots", "info", "layer2"]))));
      expect(info).toMatchObject({ Kind: "Committed", Name: "layer2", Parent: base, Labels: { b: "2" } });
      const r = await bctr(["snapshots", "info", "nope"]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^bctr: .*nope.*not found\n$/);
    });

    test("diff writes the layer between a snapshot and its parent to stdout", async () => {
      const p = Bun.spawnSync([BCTR, "-a", d.address, "snapshots", "diff", "work"], {
        stdout: "pipe",
        stderr: "pipe",
      });
      expect(p.stderr.toString()).toBe("");
      expect(p.exitCode).toBe(0);
      const tar = gunzipSync(new Uint8Array(p.stdout));
      // An empty change set: just the end-of-archive blocks.
      expect(tar.length).toBeGreaterThanOrEqual(1024);
      expect(tar.every((b) => b === 0)).toBe(true);
      // No leftover views.
      expect(ok(await bctr(["snapshots", "ls", "-q"]))).not.toContain("bctr-diff");
    });

    test("rm removes; a parent with children is refused; --snapshotter picks another snapshotter", async () => {
      const refused = await bctr(["snapshots", "rm", base]);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/^bctr: failed to remove "sha256:[0-9a-f]{64}": /);
      ok(await bctr(["snapshots", "rm", "work", "ro-view", "layer2"]));
      expect(ok(await bctr(["snapshots", "ls", "-q"]))).toBe(`${base}\n`);
      ok(await bctr(["snapshots", "--snapshotter", "native", "prepare", "n1"]));
      expect(ok(await bctr(["snapshots", "--snapshotter", "native", "ls", "-q"]))).toBe("n1\n");
      const env = await Bun.$`${BCTR} -a ${d.address} snapshots ls -q`
        .env({ ...process.env, CONTAINERD_SNAPSHOTTER: "native" })
        .text();
      expect(env).toBe("n1\n");
      ok(await bctr(["snapshots", "--snapshotter", "native", "rm", "n1"]));
    });
  });
}
