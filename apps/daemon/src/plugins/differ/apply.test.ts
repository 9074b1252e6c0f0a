/** The applier against GNU tar: the same layer extracted by both must give the same tree,
 *  entry by entry (type, mode, owner, size, content, xattrs, hard link groups, symlink target,
 *  device numbers, mtime to the nanosecond). Layers come from Python's tarfile (exact control
 *  of PAX records and binary xattrs) and from GNU tar over a real directory. */
import { afterEach, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { applyTar } from "./apply.ts";
import { openLayer } from "./decompress.ts";
import { emulateOldKernel } from "./sys.ts";
import {
  BINARY_XATTR,
  buildTar,
  CAP_NET_BIND_SERVICE,
  compareTrees,
  gnuExtract,
  gzip,
  implicitDirs,
  isRoot,
  rm,
  run,
  sh,
  snapshot,
  type TarEntry,
  tempDir,
  writeBlob,
  zstd,
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

async function applyBlob(blob: string, root: string) {
  const layer = openLayer(blob, { declared: "unknown" });
  return applyTar(root, layer.chunks);
}

/** Applies with both, compares, returns the applier's result. `entries` tells which
 *  directories the layer names (the others get "now" as mtime, in both trees). */
async function againstGnuTar(blob: string, entries?: TarEntry[]) {
  const base = tmp();
  const ours = join(base, "ours");
  const theirs = join(base, "theirs");
  sh(`mkdir ${ours} ${theirs}`);
  const r = await applyBlob(blob, ours);
  gnuExtract(blob, theirs);
  const opts = entries ? { ignoreMtime: implicitDirs(entries) } : {};
  expect(compareTrees(snapshot(ours), snapshot(theirs), opts)).toEqual([]);
  return r;
}

const big = randomBytes(3 * 1024 * 1024 + 17);

const rich: TarEntry[] = [
  { name: "./", type: "dir", mode: 0o755, mtime: 1600000000 },
  { name: "./etc/", type: "dir", mode: 0o755 },
  { name: "./etc/passwd", data: "root:x:0:0::/root:/bin/sh\n", mode: 0o644 },
  { name: "./etc/shadow", data: "root:*:1::::::\n", mode: 0o640, gid: 42 },
  { name: "./tmp/", type: "dir", mode: 0o1777 },
  { name: "./srv/", type: "dir", mode: 0o2775, uid: 1000, gid: 1000 },
  { name: "./srv/private/", type: "dir", mode: 0o700, uid: 1000, gid: 1000 },
  { name: "./srv/private/empty", data: "", mode: 0o600, uid: 1000, gid: 1000 },
  { name: "./bin/", type: "dir" },
  { name: "./bin/su", data: "#!/bin/sh\n", mode: 0o4755 },
  { name: "./bin/wall", data: "#!/bin/sh\n", mode: 0o2755, gid: 5 },
  { name: "./bin/none", data: "x", mode: 0o000 },
  { name: "./bin/ro", data: "x", mode: 0o444 },
  {
    name: "./bin/ping",
    data: "ping",
    mode: 0o755,
    pax: { "SCHILY.xattr.security.capability": CAP_NET_BIND_SERVICE },
  },
  {
    name: "./bin/xattrs",
    data: "x",
    pax: {
      "SCHILY.xattr.user.text": "hello world",
      "SCHILY.xattr.user.binary": BINARY_XATTR,
      "SCHILY.xattr.user.empty": "",
    },
  },
  { name: "./usr/", type: "dir" },
  { name: "./usr/big.bin", data: big, mode: 0o644 },
  { name: "./usr/nano", data: "ns", pax: { mtime: "1700000000.123456789", atime: "1700000005.5" } },
  { name: "./usr/old", data: "1980", mtime: 315532800 },
  { name: "./usr/owner", data: "o", uid: 65534, gid: 65534 },
  { name: "./usr/bigid", data: "o", uid: 3000000, gid: 2500000 },
  { name: "./usr/hard1", data: "shared content", mode: 0o640, uid: 7 },
  { name: "./usr/hard2", type: "link", link: "usr/hard1", mode: 0o640, uid: 7 },
  { name: "./usr/sub/hard3", type: "link", link: "./usr/hard1", mode: 0o640, uid: 7 },
  { name: "./usr/rel", type: "symlink", link: "../etc/passwd" },
  { name: "./usr/abs", type: "symlink", link: "/etc/passwd" },
  { name: "./usr/dangling", type: "symlink", link: "/nowhere/at/all" },
  { name: "./usr/dirlink", type: "symlink", link: "sub" },
  { name: "./usr/linktolink", type: "link", link: "usr/rel" },
  { name: "./dev/", type: "dir" },
  { name: "./dev/null", type: "char", major: 1, minor: 3, mode: 0o666 },
  { name: "./dev/loop0", type: "block", major: 7, minor: 0, mode: 0o660, gid: 6 },
  { name: "./dev/bigdev", type: "char", major: 300, minor: 70000, mode: 0o600 },
  { name: "./dev/fifo", type: "fifo", mode: 0o620 },
  { name: `./long/${"d".repeat(120)}/${"f".repeat(150)}`, data: "long name" },
  { name: `./long/target-${"t".repeat(200)}`, data: "t" },
  { name: "./long/longlink", type: "symlink", link: `target-${"t".repeat(200)}` },
  { name: "./long/longhard", type: "link", link: `long/target-${"t".repeat(200)}` },
  { name: "./names/caf\xe9", data: "latin1 byte in the name" },
  { name: "./names/\xe2\x98\x83 snowman", data: "utf-8 name" },
  { name: "./names/sp ace\tand\nnewline", data: "odd bytes" },
  // A directory whose contents come later: its mtime must survive them.
  { name: "./late/", type: "dir", mtime: 1500000000 },
  { name: "./late/a", data: "a" },
  { name: "./late/b/", type: "dir", mtime: 1400000000 },
  { name: "./late/b/c", data: "c" },
];

describe.skipIf(!isRoot)("apply matches GNU tar", () => {
  test("a PAX layer with every entry kind, uncompressed", async () => {
    const tar = buildTar(rich);
    const blob = writeBlob(tmp(), "layer.tar", tar);
    const r = await againstGnuTar(blob, rich);
    expect(r.diffID).toBe(`sha256:${new Bun.CryptoHasher("sha256").update(tar).digest("hex")}`);
    expect(r.size).toBe(tar.length);
  });

  test("the same layer gzipped and zstd-compressed gives the same diffID", async () => {
    const tar = buildTar(rich);
    const dir = tmp();
    const want = `sha256:${new Bun.CryptoHasher("sha256").update(tar).digest("hex")}`;
    expect((await againstGnuTar(writeBlob(dir, "layer.tar.gz", gzip(tar)), rich)).diffID).toBe(want);
    expect((await againstGnuTar(writeBlob(dir, "layer.tar.zst", zstd(tar)), rich)).diffID).toBe(want);
  });

  test("the same on a kernel without openat2 and fchmodat2 (the fallback paths)", async () => {
    emulateOldKernel(true);
    try {
      await againstGnuTar(writeBlob(tmp(), "layer.tar", buildTar(rich)), rich);
    } finally {
      emulateOldKernel(undefined);
    }
  });

  test("GNU format: long names and links as L/K entries, base-256 ids", async () => {
    const gnu = rich.filter((e) => !e.pax && !e.name.includes("\xe2"));
    await againstGnuTar(writeBlob(tmp(), "gnu.tar", buildTar(gnu, "gnu")), gnu);
  });

  test("ustar format: long names in the prefix field", async () => {
    const ustar: TarEntry[] = [
      { name: `${"p".repeat(90)}/${"q".repeat(60)}/`, type: "dir" },
      { name: `${"p".repeat(90)}/${"q".repeat(60)}/${"n".repeat(99)}`, data: "split name" },
    ];
    await againstGnuTar(writeBlob(tmp(), "ustar.tar", buildTar(ustar, "ustar")), ustar);
  });

  test("a layer GNU tar made from a real tree (setcap, xattrs, devices, links, ns mtimes)", async () => {
    const dir = tmp();
    const src = join(dir, "src");
    sh(`
      mkdir -p ${src}/bin ${src}/dev ${src}/data/deep/er ${src}/sticky
      printf 'binary' > ${src}/bin/server && chmod 0750 ${src}/bin/server
      setcap cap_net_bind_service,cap_net_raw+ep ${src}/bin/server
      printf 'su' > ${src}/bin/su && chmod 4755 ${src}/bin/su
      chmod 1777 ${src}/sticky
      mknod ${src}/dev/zero c 1 5 && mknod ${src}/dev/sda b 8 0 && mkfifo ${src}/dev/pipe
      head -c 1000000 /dev/urandom > ${src}/data/random
      ln ${src}/data/random ${src}/data/deep/random-again
      ln -s ../random ${src}/data/deep/sym
      chown -R 1234:4321 ${src}/data
      touch -h -d '2021-02-03 04:05:06.123456789' ${src}/data/deep/sym ${src}/data/random
      touch -d '2001-01-01 00:00:00.5' ${src}/data/deep/er
    `);
    run([
      "python3",
      "-c",
      `import os; os.setxattr("${src}/data/random", "user.blob", bytes([0,255,10,61,0])); os.setxattr("${src}/data/deep", "user.dir", b"d")`,
    ]);
    const blob = join(dir, "layer.tar");
    run(["tar", "--xattrs", "--xattrs-include=*", "--numeric-owner", "-C", src, "-cf", blob, "."]);
    await againstGnuTar(blob);
  });
});

describe.skipIf(!isRoot)("apply semantics", () => {
  test("directory times are set after their contents, atime is the later of atime and mtime", async () => {
    const root = tmp();
    await applyBlob(writeBlob(tmp(), "l.tar", buildTar(rich)), root);
    const s = snapshot(root);
    expect(s.get("late")!.mtimeNs).toBe("1500000000000000000");
    expect(s.get("late/b")!.mtimeNs).toBe("1400000000000000000");
    expect(s.get("usr/nano")!.mtimeNs).toBe("1700000000123456789");
  });

  test("times before the epoch are clamped to the epoch, as containerd's boundTime", async () => {
    const root = tmp();
    const tar = buildTar([{ name: "past", data: "p", pax: { mtime: "-86400.25" } }]);
    await applyBlob(writeBlob(tmp(), "l.tar", tar), root);
    expect(snapshot(root).get("past")!.mtimeNs).toBe("0");
  });

  test("trusted.* xattrs from a layer are ignored; others are applied", async () => {
    const root = tmp();
    const warnings: string[] = [];
    const tar = buildTar([
      {
        name: "d/",
        type: "dir",
        pax: { "SCHILY.xattr.trusted.overlay.opaque": "y", "SCHILY.xattr.user.ok": "1" },
      },
    ]);
    const layer = openLayer(writeBlob(tmp(), "l.tar", tar), { declared: "" });
    await applyTar(root, layer.chunks, { warn: (m) => warnings.push(m) });
    expect(snapshot(root).get("d")!.xattrs).toEqual({ "user.ok": "31" });
    expect(warnings.join()).toContain("trusted.overlay.opaque");
  });

  test("an entry replaces what is there; a directory merges into a directory", async () => {
    const root = tmp();
    sh(
      `mkdir -p ${root}/d ${root}/f && echo old > ${root}/d/keep && echo x > ${root}/f/inner && ln -s /etc ${root}/s`,
    );
    const tar = buildTar([
      { name: "d/", type: "dir", mode: 0o700, uid: 5 },
      { name: "f", data: "now a file" },
      { name: "s", type: "dir" },
    ]);
    await applyBlob(writeBlob(tmp(), "l.tar", tar), root);
    const s = snapshot(root);
    expect([s.get("d")!.mode, s.get("d")!.uid, s.get("d/keep")?.type]).toEqual([0o700, 5, "file"]);
    expect([s.get("f")!.type, s.has("f/inner"), s.get("s")!.type]).toEqual(["file", false, "dir"]);
  });

  test("missing parents are created 0755, and a PAX global header is ignored", async () => {
    const root = tmp();
    const tar = buildTar([
      { name: "pax_global_header", type: "raw", typeflag: "g", data: "18 comment=hello!\n" },
      { name: "a/b/c/file", data: "deep" },
    ]);
    await applyBlob(writeBlob(tmp(), "l.tar", tar), root);
    const s = snapshot(root);
    expect([s.get("a")!.mode, s.get("a/b/c")!.mode, s.get("a/b/c/file")!.sha256 !== undefined]).toEqual([
      0o755,
      0o755,
      true,
    ]);
    expect(s.has("pax_global_header")).toBe(false);
  });

  test("bytes after the end-of-archive marker count in the diffID", async () => {
    const tar = Buffer.concat([buildTar([{ name: "f", data: "x" }]), Buffer.alloc(4096, 0)]);
    const r = await applyBlob(writeBlob(tmp(), "l.tar", gzip(tar)), tmp());
    expect(r.diffID).toBe(`sha256:${new Bun.CryptoHasher("sha256").update(tar).digest("hex")}`);
    expect(r.size).toBe(tar.length);
  });
});
