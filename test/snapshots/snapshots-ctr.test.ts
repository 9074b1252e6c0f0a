/** Snapshots through the Go ctr against bunkerd, on real overlayfs and native snapshotters:
 *  prepare, mount and write, commit, view, tree, info, label, usage, rm; isolation. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type DaemonHandle, hasBinary, isRoot, startDaemon } from "../harness/daemon.ts";

/** Runs the mount command ctr prints (`mount -t T SRC TARGET -o OPTS`), for a real mount. */
async function mountPrinted(cmd: string) {
  const m = cmd.trim().match(/^mount -t (\S+) (\S+) (\S+) -o (\S+)$/);
  if (!m) throw new Error(`unexpected mount line: ${cmd}`);
  const r = Bun.spawnSync(["mount", "-t", m[1]!, m[2]!, m[3]!, "-o", m[4]!]);
  if (r.exitCode !== 0) throw new Error(`mount failed: ${r.stderr}`);
}
const umount = (dir: string) => Bun.spawnSync(["umount", dir]);

// `ctr snapshots view` adds no gc.root label: an unreferenced view is fair game for the
// collector (as in containerd). Keep the collector from running during these tests.
const keepUnreferenced = `[plugins."io.containerd.gc.v1.scheduler"]\n  startup_delay = "1h"\n  mutation_threshold = 1000000\n  deletion_threshold = 1000000\n`;

describe.skipIf(!hasBinary("ctr") || !isRoot)("snapshots with the Go ctr", () => {
  let d: DaemonHandle;
  let mnt: string;
  beforeAll(async () => {
    d = await startDaemon("bunkerd", { extraConfig: keepUnreferenced });
    mnt = mkdtempSync("/tmp/snapmnt-");
  });
  afterAll(async () => {
    umount(mnt);
    rmSync(mnt, { recursive: true, force: true });
    await d?.stop();
  });

  for (const sn of ["overlayfs", "native"]) {
    test(`${sn}: prepare, write through the mount, commit, view sees it; tree, info, usage, rm`, async () => {
      const ctr = (...a: string[]) => d.ctr(["snapshots", "--snapshotter", sn, ...a]);
      const base = await ctr("prepare", `${sn}-base`);
      expect(base.code).toBe(0);
      const mounts = await ctr("mounts", mnt, `${sn}-base`);
      await mountPrinted(mounts.stdout);
      writeFileSync(join(mnt, "hello.txt"), `from ${sn}\n`);
      umount(mnt);
      expect((await ctr("commit", `${sn}-layer1`, `${sn}-base`)).code).toBe(0);
      expect((await ctr("view", `${sn}-view`, `${sn}-layer1`)).code).toBe(0);
      await mountPrinted((await ctr("mounts", mnt, `${sn}-view`)).stdout);
      expect(readFileSync(join(mnt, "hello.txt"), "utf8")).toBe(`from ${sn}\n`);
      umount(mnt);
      expect((await ctr("prepare", `${sn}-child`, `${sn}-layer1`)).code).toBe(0);
      const tree = await ctr("tree");
      expect(tree.stdout).toContain(`${sn}-layer1`);
      expect(tree.stdout).toMatch(new RegExp(`\\\\_ ${sn}-(child|view)`));
      const ls = await ctr("ls");
      expect(ls.stdout).toMatch(/^KEY\s+PARENT\s+KIND/);
      expect(ls.stdout).toMatch(new RegExp(`${sn}-child\\s+${sn}-layer1\\s+Active`));
      expect(ls.stdout).toMatch(new RegExp(`${sn}-layer1\\s+Committed`));
      const info = JSON.parse((await ctr("info", `${sn}-child`)).stdout);
      expect(info).toMatchObject({ Kind: "Active", Name: `${sn}-child`, Parent: `${sn}-layer1` });
      expect((await ctr("label", `${sn}-child`, "team=blue")).code).toBe(0);
      expect(JSON.parse((await ctr("info", `${sn}-child`)).stdout).Labels.team).toBe("blue");
      expect((await ctr("usage", `${sn}-layer1`)).stdout).toMatch(new RegExp(`${sn}-layer1\\s+\\d`));
      const refused = await ctr("rm", `${sn}-layer1`);
      expect(refused.code).not.toBe(0);
      expect(refused.stderr).toContain("cannot remove snapshot with child");
      const rm = await ctr("rm", `${sn}-child`, `${sn}-view`, `${sn}-layer1`);
      expect(rm.stderr).toBe("");
      expect(rm.code).toBe(0);
      expect((await ctr("ls")).stdout).not.toContain(`${sn}-layer1`);
    });
  }

  test("snapshots are per namespace; errors read as containerd's", async () => {
    await d.ctr(["snapshots", "prepare", "mine"]);
    expect((await d.ctr(["-n", "other", "snapshots", "ls"])).stdout).not.toContain("mine");
    const dup = await d.ctr(["snapshots", "prepare", "mine"]);
    expect(dup.stderr).toContain('snapshot "mine": already exists');
    const noParent = await d.ctr(["snapshots", "prepare", "orphan", "no-such-parent"]);
    expect(noParent.stderr).toContain("does not exist");
    const unknown = await d.ctr(["snapshots", "--snapshotter", "zfs", "ls"]);
    expect(unknown.code).not.toBe(0);
  });
});
