/** `ctr images pull` (Go ctr 1.6, pulling client-side: Content.Write, Snapshots.Prepare with
 *  chain-ID keys, Diff.Apply, Snapshots.Commit, Images.Create) from a local distribution
 *  registry into bunkerd and into containerd: the unpacked trees must be identical, entry by
 *  entry. Then `images rm --sync` leaves no snapshot and no blob. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import {
  canRunRegistry,
  startRegistry,
  type TestRegistry,
} from "../../packages/registry/src/testutil/registry.ts";
import { type DaemonHandle, hasBinary, startDaemon } from "../harness/daemon.ts";
import { buildTestImage, describeTree } from "../harness/testimage.ts";

const ready = canRunRegistry() && hasBinary("ctr") && hasBinary("containerd") && hasBinary("skopeo");

describe.skipIf(!ready)("pull with the Go ctr", () => {
  let registry: TestRegistry;
  let bunker: DaemonHandle;
  let ctd: DaemonHandle;
  let image: ReturnType<typeof buildTestImage>;
  let ref: string;
  beforeAll(async () => {
    registry = await startRegistry();
    image = buildTestImage();
    ref = `${registry.host}/test/hard:${image.tag}`;
    const r = Bun.spawnSync(
      [
        "skopeo",
        "copy",
        "--quiet",
        "--preserve-digests",
        "--dest-tls-verify=false",
        `oci:${image.layout}:${image.tag}`,
        `docker://${ref}`,
      ],
      { stderr: "pipe" },
    );
    if (r.exitCode !== 0) throw new Error(`skopeo: ${r.stderr}`);
    [bunker, ctd] = await Promise.all([startDaemon("bunkerd"), startDaemon("containerd")]);
  }, 120_000);
  afterAll(async () => {
    await Promise.all([bunker?.stop(), ctd?.stop()]);
    await registry?.stop();
    image?.cleanup();
  });

  test("pull into both daemons; the unpacked trees are identical", async () => {
    for (const d of [bunker, ctd]) {
      const r = await d.ctr(["images", "pull", "--plain-http", ref], { timeoutMs: 120_000 });
      // ctr's progress loop may log its own in-flight status call being cancelled as the pull
      // ends ("active check failed … context canceled"), against either daemon: not a failure.
      const errors = r.stderr
        .split("\n")
        .filter((l) => /level=error|ctr: /.test(l) && !l.includes("context canceled"));
      expect(errors).toEqual([]);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`done`);
    }
    const ls = await bunker.ctr(["images", "ls"]);
    expect(ls.stdout).toContain(ref);
    expect(ls.stdout).toContain(image.manifestDigest);
    // The committed snapshots are keyed by chain ID, as containerd keys them.
    const bunkerSnaps = (await bunker.ctr(["snapshots", "ls"])).stdout;
    const ctdSnaps = (await ctd.ctr(["snapshots", "ls"])).stdout;
    expect(bunkerSnaps.split("\n").sort()).toEqual(ctdSnaps.split("\n").sort());

    const trees: Record<string, string>[] = [];
    for (const d of [bunker, ctd]) {
      const target = mkdtempSync("/tmp/pullmnt-");
      try {
        const m = await d.ctr(["images", "mount", ref, target]);
        expect(m.code).toBe(0);
        trees.push(describeTree(target));
      } finally {
        await d.ctr(["images", "unmount", "--rm", target]);
        rmSync(target, { recursive: true, force: true });
      }
    }
    const [ours, theirs] = trees as [Record<string, string>, Record<string, string>];
    // Spot checks that the interesting entries are really there.
    expect(ours["etc/removed"]).toBeUndefined();
    expect(ours["opt/data/old"]).toBeUndefined();
    expect(ours["opt/data/new"]).toBeDefined();
    expect(ours["usr/local/bin/ping"]).toContain("xattrs");
    expect(ours["usr/local/bin/suid"]).toContain('"mode": "0o104755"');
    expect(ours["etc/hardlink"]).toContain("links=etc/hardlink,etc/original");
    expect(ours["dev/null"]).toContain('"dev": [1, 3]');
    expect(ours["bin/sh"]).toContain('"target": "busybox"');
    // And the whole tree, entry by entry, is what containerd produced.
    const keys = [...new Set([...Object.keys(ours), ...Object.keys(theirs)])].sort();
    const diff = keys
      .filter((k) => ours[k] !== theirs[k])
      .map((k) => `${k}\n  bunkerd:    ${ours[k]}\n  containerd: ${theirs[k]}`);
    expect(diff).toEqual([]);
  }, 180_000);

  test("images rm --sync leaves no snapshot and no blob", async () => {
    expect((await bunker.ctr(["images", "rm", "--sync", ref])).code).toBe(0);
    const left = (await bunker.ctr(["snapshots", "ls"])).stdout.trim().split("\n");
    expect(left.slice(1)).toEqual([]); // the header only
    const blobs = join(bunker.root, "io.containerd.content.v1.content/blobs/sha256");
    expect(existsSync(blobs) ? readdirSync(blobs) : []).toEqual([]);
  });
});
