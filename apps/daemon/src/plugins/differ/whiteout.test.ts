/** Whiteouts in both modes. Native: `.wh.x` deletes x from the tree below, `.wh..wh..opq`
 *  empties its directory of everything this layer did not write. Overlay: the same layer
 *  applied into an upperdir becomes char 0/0 devices and `trusted.overlay.opaque=y`, and the
 *  mounted overlay then shows exactly the tree the native apply produced. */
import { afterEach, describe, expect, test } from "bun:test";
import { mkdirSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { applyTar, applyTarget, applyToMounts } from "./apply.ts";
import { openLayer } from "./decompress.ts";
import { mountsUnder } from "./testdata/mounts.ts";
import {
  buildTar,
  compareTrees,
  isRoot,
  rm,
  sh,
  snapshot,
  type TarEntry,
  tempDir,
  writeBlob,
} from "./testdata/helpers.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rm(d);
});
const tmp = () => {
  const d = tempDir();
  dirs.push(d);
  return d;
};

const apply = (
  root: string,
  tar: Uint8Array,
  whiteouts: "native" | "overlay" = "native",
  parents?: string[],
) =>
  applyTar(root, openLayer(writeBlob(tmp(), "l.tar", tar), { declared: "" }).chunks, { whiteouts, parents });

const A: TarEntry[] = [
  { name: "etc/", type: "dir", mode: 0o755 },
  { name: "etc/a", data: "a" },
  { name: "etc/b", data: "b" },
  { name: "dir/", type: "dir", mode: 0o750, uid: 3 },
  { name: "dir/x", data: "x" },
  { name: "dir/y/", type: "dir" },
  { name: "dir/y/z", data: "z" },
  { name: "opq/", type: "dir", mode: 0o711, uid: 9, gid: 9 },
  { name: "opq/1", data: "1" },
  { name: "opq/sub/", type: "dir" },
  { name: "opq/sub/2", data: "2" },
  { name: "keep/", type: "dir" },
  { name: "keep/k", data: "k" },
  { name: "file-then-dir", data: "f" },
];

const B: TarEntry[] = [
  { name: "etc/", type: "dir", mode: 0o755 },
  { name: "etc/.wh.a", data: "" },
  { name: ".wh.dir", data: "" },
  // No "opq/" entry: in overlay mode the upperdir's opq/ copies its attributes from below.
  { name: "opq/.wh..wh..opq", data: "" },
  { name: "opq/new", data: "new" },
  // An opaque marker after an entry of the same layer spares that entry.
  { name: "keep/newfile", data: "n" },
  { name: "keep/.wh..wh..opq", data: "" },
  { name: ".wh.file-then-dir", data: "" },
  { name: "file-then-dir/", type: "dir" },
  { name: ".wh.never-existed", data: "" },
];

describe.skipIf(!isRoot)("whiteouts", () => {
  test("native: deletions, opaque directories, and what the layer wrote survives", async () => {
    const root = tmp();
    await apply(root, buildTar(A));
    await apply(root, buildTar(B));
    expect([...snapshot(root).keys()].sort()).toEqual([
      "etc",
      "etc/b",
      "file-then-dir",
      "keep",
      "keep/newfile",
      "opq",
      "opq/new",
    ]);
    expect(snapshot(root).get("file-then-dir")!.type).toBe("dir");
  });

  test("overlay: char 0/0 whiteouts, opaque xattr, parents copied up; the mount shows the native tree", async () => {
    const base = tmp();
    const [native, lower, upper, work, merged] = ["native", "lower", "upper", "work", "merged"].map((d) => {
      mkdirSync(join(base, d));
      return join(base, d);
    }) as [string, string, string, string, string];
    await apply(native, buildTar(A));
    await apply(native, buildTar(B));
    await apply(lower, buildTar(A));
    await apply(upper, buildTar(B), "overlay", [lower]);

    const u = snapshot(upper);
    for (const w of ["etc/a", "dir"]) {
      expect([w, u.get(w)!.type, u.get(w)!.rdev]).toEqual([w, "char", [0, 0]]);
    }
    expect(u.get("opq")!.xattrs["trusted.overlay.opaque"]).toBe("79");
    expect([u.get("opq")!.mode, u.get("opq")!.uid, u.get("opq")!.gid]).toEqual([0o711, 9, 9]);
    expect(u.get("never-existed")?.type).toBe("char");

    sh(`mount -t overlay overlay -o lowerdir=${lower},upperdir=${upper},workdir=${work} ${merged}`);
    try {
      expect(
        compareTrees(snapshot(merged), snapshot(native), {
          ignoreDirMtime: true,
          ignore: (p) => p === "never-existed",
        }),
      ).toEqual([]);
    } finally {
      sh(`umount ${merged}`);
    }
  });

  test.each([".wh..", ".wh...", "a/.wh..", ".wh."])("invalid whiteout name %p is refused", async (name) => {
    await expect(apply(tmp(), buildTar([{ name, data: "" }]))).rejects.toThrow(/invalid whiteout name/);
  });
});

describe("where a layer is applied", () => {
  test("one overlay mount with an upperdir: straight into the upperdir, lowers as parents", () => {
    expect(
      applyTarget([
        {
          type: "overlay",
          source: "overlay",
          options: ["index=off", "workdir=/w", "upperdir=/u", "lowerdir=/l1:/l2"],
        },
      ]),
    ).toEqual({ kind: "overlay", upperdir: "/u", parents: ["/l1", "/l2"] });
  });

  test("a bind mount, a read-only overlay, or several mounts: mounted and applied natively", () => {
    const bind = [{ type: "bind", source: "/s", options: ["rbind", "rw"] }];
    expect(applyTarget(bind)).toEqual({ kind: "mount", mounts: bind });
    const ro = [{ type: "overlay", source: "overlay", options: ["lowerdir=/a:/b"] }];
    expect(applyTarget(ro).kind).toBe("mount");
    expect(applyTarget([...bind, ...bind]).kind).toBe("mount");
  });

  test.skipIf(!isRoot)(
    "applyToMounts through a bind mount unmounts and removes its temporary mount point",
    async () => {
      const base = tmp();
      const snap = join(base, "snap");
      const tmpmounts = join(base, "tmpmounts");
      mkdirSync(snap);
      mkdirSync(tmpmounts);
      const chunks = openLayer(writeBlob(base, "l.tar", buildTar(A)), { declared: "" }).chunks;
      await applyToMounts([{ type: "bind", source: snap, options: ["rbind", "rw"] }], chunks, tmpmounts);
      expect(snapshot(snap).get("etc/a")?.type).toBe("file");
      expect(readdirSync(tmpmounts)).toEqual([]);
      expect(mountsUnder(base)).toEqual([]);
    },
  );

  test.skipIf(!isRoot)("applyToMounts with an overlay writes the upperdir without mounting", async () => {
    const base = tmp();
    const [lower, upper, work, tmpmounts] = ["lower", "upper", "work", "tmpmounts"].map((d) => {
      mkdirSync(join(base, d));
      return join(base, d);
    }) as [string, string, string, string];
    await apply(lower, buildTar(A));
    const chunks = openLayer(writeBlob(base, "l.tar", buildTar(B)), { declared: "" }).chunks;
    await applyToMounts(
      [
        {
          type: "overlay",
          source: "overlay",
          options: [`workdir=${work}`, `upperdir=${upper}`, `lowerdir=${lower}`],
        },
      ],
      chunks,
      tmpmounts,
    );
    expect(snapshot(upper).get("etc/a")!.type).toBe("char");
    expect(readdirSync(tmpmounts)).toEqual([]);
  });
});
