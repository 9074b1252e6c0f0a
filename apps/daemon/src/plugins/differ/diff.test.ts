/** Compare: a layer made from two trees, applied to the lower tree, gives the upper tree
 *  back (to the second: diffs truncate mtimes; only security.capability travels, as in
 *  containerd). Both the double walk and the overlay-upperdir walk, and their outputs. */
import { afterEach, describe, expect, test } from "bun:test";
import { mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import * as zlib from "node:zlib";
import { Kind } from "@bunkerd/plugin-api";
import { applyTar } from "./apply.ts";
import { openLayer } from "./decompress.ts";
import { WalkingDiffer } from "./differ.ts";
import { MediaType } from "./mediatype.ts";
import type { Mount } from "./mount.ts";
import { TarReader } from "./tar.ts";
import {
  buildTar,
  CAP_NET_BIND_SERVICE,
  compareTrees,
  isRoot,
  rm,
  run,
  sh,
  snapshot,
  type TarEntry,
  tempDir,
  writeBlob,
} from "./testdata/helpers.ts";
import { mountsUnder } from "./testdata/mounts.ts";

let base: string;
afterEach(() => {
  if (!base) return;
  try {
    expect(mountsUnder(base)).toEqual([]);
  } finally {
    rm(base);
    base = "";
  }
});

const sha = (b: Uint8Array) => `sha256:${new Bun.CryptoHasher("sha256").update(b).digest("hex")}`;
const bind = (source: string): Mount[] => [{ type: "bind", source, options: ["rbind", "rw"] }];
const differ = new WalkingDiffer();

function dirsIn(b: string, ...names: string[]): string[] {
  return names.map((n) => {
    mkdirSync(join(b, n), { recursive: true });
    return join(b, n);
  });
}

async function applyFile(root: string, blob: string, declared: "" | "unknown" = "unknown") {
  return applyTar(root, openLayer(blob, { declared }).chunks);
}

const applyEntries = (root: string, entries: TarEntry[]) =>
  applyFile(root, writeBlob(base, `l${Math.random()}.tar`, buildTar(entries)));

/** Names in a tar, in order. */
function names(tar: Uint8Array): string[] {
  const out: string[] = [];
  const r = new TarReader({ entry: (h) => out.push(h.name), data() {}, entryEnd() {} });
  r.push(tar);
  r.end();
  return out;
}

const A: TarEntry[] = [
  { name: "etc/", type: "dir" },
  { name: "etc/a", data: "a" },
  { name: "etc/b", data: "bbbb" },
  { name: "etc/same-size", data: "1234", mtime: 1700000000 },
  { name: "dir/", type: "dir" },
  { name: "dir/x", data: "x" },
  { name: "dir/y/", type: "dir" },
  { name: "dir/y/z", data: "z" },
  { name: "opq/", type: "dir" },
  { name: "opq/1", data: "1" },
  { name: "opq/sub/", type: "dir" },
  { name: "opq/sub/2", data: "2" },
  { name: "keep/", type: "dir" },
  { name: "keep/k", data: "k", mode: 0o644 },
  { name: "keep/owned", data: "o" },
  { name: "hard/", type: "dir" },
  { name: "hard/h1", data: "linked", mode: 0o640 },
  { name: "hard/h2", type: "link", link: "hard/h1", mode: 0o640 },
  { name: "dev/", type: "dir" },
  { name: "dev/null", type: "char", major: 1, minor: 3, mode: 0o666 },
  { name: "turns-dir", data: "file" },
  { name: "turns-file/", type: "dir" },
  { name: "turns-file/inner", data: "i" },
  { name: "sym", type: "symlink", link: "etc/a" },
];

const B: TarEntry[] = [
  { name: "etc/", type: "dir" },
  { name: "etc/.wh.a", data: "" },
  { name: "etc/b", data: "changed content" },
  // Same size, same whole-second mtime, different bytes: only the content tells.
  { name: "etc/same-size", data: "4321", mtime: 1700000000 },
  { name: ".wh.dir", data: "" },
  { name: "opq/.wh..wh..opq", data: "" },
  { name: "opq/new", data: "new" },
  { name: "keep/k", data: "k", mode: 0o600 },
  { name: "keep/owned", data: "o", uid: 1000, gid: 1000 },
  { name: "hard/h3", type: "link", link: "hard/h1", mode: 0o640 },
  { name: "hard/new1", data: "pair" },
  { name: "hard/new2", type: "link", link: "hard/new1" },
  { name: ".wh.turns-dir", data: "" },
  { name: "turns-dir/", type: "dir", mode: 0o700 },
  { name: "turns-dir/f", data: "f" },
  { name: ".wh.turns-file", data: "" },
  { name: "turns-file", data: "now a file" },
  { name: "sym", type: "symlink", link: "etc/b" },
  { name: "dev/zero", type: "char", major: 1, minor: 5 },
  { name: "dev/fifo", type: "fifo" },
  {
    name: "caps",
    data: "cap",
    mode: 0o755,
    pax: { "SCHILY.xattr.security.capability": CAP_NET_BIND_SERVICE },
  },
  { name: `deep/${"n".repeat(120)}/${"m".repeat(130)}`, data: "long" },
];

const sameTree = { mtimeSeconds: true, xattrs: (n: string) => n === "security.capability" };

describe.skipIf(!isRoot)("compare round trip", () => {
  test("bind mounts, double walk: the layer turns the lower tree into the upper tree", async () => {
    base = tempDir("differ-diff-");
    const [x, y, z, tmpmounts] = dirsIn(base, "x", "y", "z", "tmpmounts") as [string, string, string, string];
    await applyEntries(x, A);
    sh(`cp -a ${x}/. ${y}/ && cp -a ${x}/. ${z}/`);
    await applyEntries(y, B);

    const out = join(base, "diff.tar.gz");
    const r = await differ.compare(bind(x), bind(y), { tmpMountsDir: tmpmounts, write: out });
    const blob = readFileSync(out);
    const tar = zlib.gunzipSync(blob);
    expect(r).toEqual({
      mediaType: MediaType.ImageLayerGzip,
      digest: sha(blob),
      size: blob.length,
      diffID: sha(tar),
    });
    const listed = names(tar);
    for (const w of ["etc/.wh.a", ".wh.dir", "opq/.wh.1", "opq/.wh.sub", "keep/", "keep/k", "caps"])
      expect(listed).toContain(w);
    expect(listed).not.toContain("etc/a");

    await applyFile(z, out);
    expect(compareTrees(snapshot(y), snapshot(z), sameTree)).toEqual([]);
    expect(readdirSync(tmpmounts)).toEqual([]);
  });

  test("an empty lower: every file is an addition", async () => {
    base = tempDir("differ-diff-");
    const [y, z, tmpmounts] = dirsIn(base, "y", "z", "tmpmounts") as [string, string, string];
    await applyEntries(y, A);
    const out = join(base, "full.tar");
    const r = await differ.compare([], bind(y), {
      tmpMountsDir: tmpmounts,
      write: out,
      mediaType: MediaType.ImageLayer,
    });
    expect(r.digest).toBe(r.diffID);
    await applyFile(z, out, "");
    expect(compareTrees(snapshot(y), snapshot(z), sameTree)).toEqual([]);
  });

  test("an overlay upper: the upperdir walk and the double walk give layers that rebuild the same tree", async () => {
    base = tempDir("differ-diff-");
    const [lower, upper, work, merged, z1, z2, tmpmounts] = dirsIn(
      base,
      "lower",
      "upper",
      "work",
      "merged",
      "z1",
      "z2",
      "tmpmounts",
    ) as [string, string, string, string, string, string, string];
    await applyEntries(lower, A);
    sh(`cp -a ${lower}/. ${z1}/ && cp -a ${lower}/. ${z2}/`);
    const opts = [`lowerdir=${lower}`, `upperdir=${upper}`, `workdir=${work}`];
    sh(`mount -t overlay overlay -o ${opts.join(",")} ${merged}`);
    try {
      sh(`
        cd ${merged}
        rm etc/a
        rm -rf dir
        rm -rf opq && mkdir opq && echo n > opq/new
        echo changed > etc/b
        chmod 600 keep/k && chown 7:7 keep/owned
        mkdir -p newdir/deeper && echo x > newdir/deeper/f && setcap cap_net_raw+ep newdir/deeper/f
        ln etc/b etc/b-link
        rm hard/h2
        rm -rf turns-file && echo now-file > turns-file
        rm turns-dir && mkdir turns-dir
        ln -sf etc/b sym
        mkfifo dev/fifo
      `);
    } finally {
      sh(`umount ${merged}`);
    }
    // What a container would see: the overlay, read-only.
    sh(`mount -t overlay overlay -o lowerdir=${upper}:${lower} ${merged}`);
    let want: ReturnType<typeof snapshot>;
    try {
      want = snapshot(merged);
    } finally {
      sh(`umount ${merged}`);
    }

    const upperMounts: Mount[] = [{ type: "overlay", source: "overlay", options: opts }];
    const d1 = join(base, "d1.tar.gz");
    const d2 = join(base, "d2.tar.gz");
    await differ.compare(bind(lower), upperMounts, { tmpMountsDir: tmpmounts, write: d1 });
    await differ.compare(bind(lower), upperMounts, { tmpMountsDir: tmpmounts, write: d2, walk: "double" });
    const n1 = names(zlib.gunzipSync(readFileSync(d1)));
    expect(n1).toContain("opq/.wh..wh..opq");
    expect(n1).toContain("etc/.wh.a");
    expect(n1).not.toContain("dir/x");

    await applyFile(z1, d1);
    await applyFile(z2, d2);
    expect(compareTrees(want, snapshot(z1), sameTree)).toEqual([]);
    expect(compareTrees(want, snapshot(z2), sameTree)).toEqual([]);
    expect(readdirSync(tmpmounts)).toEqual([]);
  });
});

describe.skipIf(!isRoot)("compare with an overlay that renamed a directory (redirect_dir)", () => {
  test("the upperdir alone does not hold the moved files: both trees are walked", async () => {
    base = tempDir("differ-diff-");
    const [lower, upper, work, merged, z, tmpmounts] = dirsIn(
      base,
      "lower",
      "upper",
      "work",
      "merged",
      "z",
      "tmpmounts",
    ) as [string, string, string, string, string, string];
    await applyEntries(lower, A);
    sh(`cp -a ${lower}/. ${z}/`);
    const opts = [`lowerdir=${lower}`, `upperdir=${upper}`, `workdir=${work}`, "redirect_dir=on"];
    sh(
      `mount -t overlay overlay -o ${opts.join(",")} ${merged} && mv ${merged}/opq ${merged}/moved; umount ${merged}`,
    );
    expect(snapshot(upper).get("moved")!.xattrs["trusted.overlay.redirect"]).toBeDefined();
    sh(`mount -t overlay overlay -o lowerdir=${upper}:${lower},redirect_dir=follow ${merged}`);
    let want: ReturnType<typeof snapshot>;
    try {
      want = snapshot(merged);
    } finally {
      sh(`umount ${merged}`);
    }
    expect(want.get("moved/sub/2")?.type).toBe("file");
    const out = join(base, "d.tar.gz");
    await differ.compare(bind(lower), [{ type: "overlay", source: "overlay", options: opts }], {
      tmpMountsDir: tmpmounts,
      write: out,
    });
    await applyFile(z, out);
    expect(compareTrees(want, snapshot(z), sameTree)).toEqual([]);
  });
});

describe.skipIf(!isRoot)("compare outputs", () => {
  test("zstd, a callback sink, and an unsupported media type", async () => {
    base = tempDir("differ-diff-");
    const [x, y, tmpmounts] = dirsIn(base, "x", "y", "tmpmounts") as [string, string, string];
    await applyEntries(y, [{ name: "f", data: "zstd me".repeat(1000) }]);
    const parts: Uint8Array[] = [];
    const r = await differ.compare(bind(x), bind(y), {
      tmpMountsDir: tmpmounts,
      mediaType: MediaType.ImageLayerZstd,
      write: async (c) => {
        parts.push(Buffer.from(c));
      },
    });
    const blob = Buffer.concat(parts);
    const tar = run(["zstd", "-d", "-c", "-"], { stdin: blob });
    expect([r.digest, r.size, r.diffID]).toEqual([sha(blob), blob.length, sha(tar)]);
    expect(names(tar)).toEqual(["f"]);
    await expect(
      differ.compare(bind(x), bind(y), {
        tmpMountsDir: tmpmounts,
        mediaType: "application/x-tar",
        write: async () => {},
      }),
    ).rejects.toMatchObject({ kind: Kind.NotImplemented });
  });

  test("a failing sink aborts the compare, unmounts, and removes a partial file", async () => {
    base = tempDir("differ-diff-");
    const [x, y, tmpmounts] = dirsIn(base, "x", "y", "tmpmounts") as [string, string, string];
    await applyEntries(y, [{ name: "f", data: Buffer.alloc(4 << 20, 9) }]);
    await expect(
      differ.compare(bind(x), bind(y), {
        tmpMountsDir: tmpmounts,
        write: async () => {
          throw new Error("disk full");
        },
      }),
    ).rejects.toThrow("disk full");
    expect(readdirSync(tmpmounts)).toEqual([]);
  });
});
