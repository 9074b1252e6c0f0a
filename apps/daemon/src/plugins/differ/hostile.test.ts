/** Hostile layers: every case either is refused or lands inside the target — as containerd,
 *  which confines `..`, absolute names and symlinks to the root (fs.RootPath) rather than
 *  refusing them — and in every case a canary tree beside the target is left exactly as it
 *  was (content, mode, owner, times, link count, listing). */
import { afterAll, afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { applyTar } from "./apply.ts";
import { openLayer } from "./decompress.ts";
import { emulateOldKernel, openat2Supported } from "./sys.ts";
import {
  buildTar,
  compareTrees,
  gzip,
  isRoot,
  type Node,
  rm,
  sh,
  snapshot,
  type TarEntry,
  tempDir,
  writeBlob,
  zstd,
} from "./testdata/helpers.ts";

let base: string;
let root: string;
let outside: string;
let before: Map<string, Node>;

/** Everything under `base` except the target itself. */
const world = () => {
  const s = snapshot(base);
  for (const k of [...s.keys()])
    if (k === "root" || k.startsWith("root/") || k.startsWith("blobs")) s.delete(k);
  return s;
};

beforeEach(() => {
  base = tempDir("differ-hostile-");
  root = join(base, "root");
  outside = join(base, "outside");
  mkdirSync(root);
  mkdirSync(join(outside, "outdir"), { recursive: true });
  writeFileSync(join(outside, "canary"), "canary\n", { mode: 0o644 });
  writeFileSync(join(outside, "outdir", "inner"), "inner\n", { mode: 0o600 });
  sh(`touch -d '2020-01-01' ${outside}/canary ${outside}/outdir/inner ${outside}/outdir ${outside}`);
  before = world();
});

afterEach(() => {
  try {
    expect(compareTrees(world(), before)).toEqual([]);
  } finally {
    rm(base);
  }
});

async function applyBytes(bytes: Uint8Array, opts: { maxUncompressed?: number } = {}) {
  const blob = writeBlob(join(base, "blobs"), `l${Math.random()}`, bytes);
  return applyTar(
    root,
    openLayer(blob, { declared: "unknown", maxUncompressed: opts.maxUncompressed }).chunks,
  );
}
const applyEntries = (entries: TarEntry[]) => applyBytes(buildTar(entries));
const inRoot = (p: string) => snapshot(root).get(p);

/** One raw ustar header block with the given fields (bytes as given), checksum computed. */
function rawHeader(f: { name: string; size?: Uint8Array; typeflag?: string; mode?: string }): Buffer {
  const b = Buffer.alloc(512);
  b.write(f.name, 0, "latin1");
  b.write(f.mode ?? "0000644\0", 100, "latin1");
  b.write("0000000\0", 108, "latin1");
  b.write("0000000\0", 116, "latin1");
  if (f.size) Buffer.from(f.size).copy(b, 124);
  else b.write("00000000000\0", 124, "latin1");
  b.write("14000000000\0", 136, "latin1");
  b.write(f.typeflag ?? "0", 156, "latin1");
  b.write("ustar\x0000", 257, "latin1");
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (const x of b) sum += x;
  b.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148, "latin1");
  return b;
}
const end = Buffer.alloc(1024);

// Every case runs twice: resolution by openat2(RESOLVE_IN_ROOT), and by the component walk
// used where the kernel lacks it.
afterAll(() => emulateOldKernel(undefined));
for (const mode of ["openat2", "old kernel"] as const) {
  if (mode === "openat2" && !openat2Supported()) continue;
  const setMode = () => emulateOldKernel(mode === "old kernel");

  describe.skipIf(!isRoot)(`${mode}: hostile names are confined to the root`, () => {
    beforeEach(setMode);
    test("resolves with the intended resolver", () => {
      expect(openat2Supported()).toBe(mode === "openat2");
    });

    test.each([
      ["../escape", "escape"],
      ["../../../../../../../../escape-deep", "escape-deep"],
      ["/abs/file", "abs/file"],
      ["a/../../b", "b"],
      ["./././c/./d/../e", "c/e"],
    ])("%p lands at %p", async (name, where) => {
      await applyEntries([{ name, data: "confined" }]);
      expect(inRoot(where)?.type).toBe("file");
    });

    test("an absolute symlink to a host directory, then a file through it", async () => {
      await applyEntries([
        { name: "evil", type: "symlink", link: outside },
        { name: "evil/canary", data: "pwned" },
      ]);
      expect(inRoot(`${outside.slice(1)}/canary`)?.size).toBe(5);
    });

    test("a relative symlink climbing out, then a file through it", async () => {
      await applyEntries([
        { name: "sub/rel", type: "symlink", link: "../../../../outside" },
        { name: "sub/rel/canary", data: "pwned" },
      ]);
      expect(inRoot("outside/canary")?.size).toBe(5);
    });

    test("a chain of symlinks climbing out", async () => {
      await applyEntries([
        { name: "l1", type: "symlink", link: "l2/x/.." },
        { name: "l2", type: "symlink", link: "../../.." },
        { name: "l2x", type: "dir" },
        { name: "l1/outside/canary", data: "pwned" },
      ]);
      expect(inRoot("outside/canary")?.size).toBe(5);
    });

    test("a whiteout through a symlink to the host removes nothing outside", async () => {
      await applyEntries([
        { name: "w", type: "symlink", link: outside },
        { name: "w/.wh.canary", data: "" },
      ]);
    });

    test("an opaque marker through a symlink to the host empties nothing outside", async () => {
      await applyEntries([
        { name: "o", type: "symlink", link: join(outside, "outdir") },
        { name: "o/.wh..wh..opq", data: "" },
      ]);
    });

    test("a device node is created where the layer says, inside the root", async () => {
      await applyEntries([{ name: "dev/sda", type: "block", major: 8, minor: 0, mode: 0o660 }]);
      expect(inRoot("dev/sda")?.rdev).toEqual([8, 0]);
    });
  });

  describe.skipIf(!isRoot)(`${mode}: metadata never follows a symlink (CVE-2021-32760)`, () => {
    beforeEach(setMode);
    test("a hard link to a symlink pointing at a host file: chmod/chown/utime do not reach it", async () => {
      await applyEntries([
        { name: "s", type: "symlink", link: join(outside, "canary") },
        { name: "s2", type: "link", link: "s", mode: 0o6777, uid: 1234, gid: 1234, mtime: 1 },
      ]);
      expect(inRoot("s2")?.type).toBe("symlink");
    });

    test("a directory entry replaces a symlink to a host directory instead of chmodding it", async () => {
      await applyEntries([
        { name: "d", type: "symlink", link: join(outside, "outdir") },
        { name: "d/", type: "dir", mode: 0o777, uid: 99 },
      ]);
      expect(inRoot("d")?.type).toBe("dir");
    });

    test("a file entry replaces a symlink to a host file instead of writing through it", async () => {
      await applyEntries([
        { name: "f", type: "symlink", link: join(outside, "canary") },
        { name: "f", data: "pwned", mode: 0o4777 },
      ]);
      expect(inRoot("f")?.type).toBe("file");
    });

    test("a device and a fifo over symlinks replace the symlinks", async () => {
      await applyEntries([
        { name: "c", type: "symlink", link: join(outside, "canary") },
        { name: "c", type: "char", major: 1, minor: 3 },
        { name: "p", type: "symlink", link: join(outside, "canary") },
        { name: "p", type: "fifo", mode: 0o777 },
      ]);
      expect([inRoot("c")?.type, inRoot("p")?.type]).toEqual(["char", "fifo"]);
    });
  });

  describe.skipIf(!isRoot)(`${mode}: hostile layers are refused`, () => {
    beforeEach(setMode);
    // Entries are built per test: `outside` is only known once beforeEach ran.
    test.each<[string, (outside: string) => TarEntry[], RegExp]>([
      [
        "a hard link to a host file by absolute name",
        (o) => [{ name: "hl", type: "link", link: `${o}/canary` }],
        /ENOENT/,
      ],
      [
        "a hard link climbing out",
        () => [{ name: "hl", type: "link", link: "../../outside/canary" }],
        /ENOENT/,
      ],
      [
        "a hard link through a symlinked parent",
        (o) => [
          { name: "sd", type: "symlink", link: o },
          { name: "x", type: "link", link: "sd/canary" },
        ],
        /ENOENT/,
      ],
      [
        "a hard link through a relative symlink climbing out",
        () => [
          { name: "up", type: "symlink", link: "../.." },
          { name: "x", type: "link", link: "up/outside/canary" },
        ],
        /ENOENT/,
      ],
      [
        "a hard link to a directory",
        () => [
          { name: "d/", type: "dir" },
          { name: "hl", type: "link", link: "d" },
        ],
        /EPERM/,
      ],
      ["a hard link to the root", () => [{ name: "hl", type: "link", link: "./" }], /invalid hardlink/],
      [
        "a symlink loop as a parent",
        () => [
          { name: "a", type: "symlink", link: "b" },
          { name: "b", type: "symlink", link: "a" },
          { name: "a/f", data: "x" },
        ],
        /too many links|ELOOP/,
      ],
      [
        "a file as a parent",
        () => [
          { name: "f", data: "x" },
          { name: "f/x", data: "y" },
        ],
        /not a directory/,
      ],
      ["a whiteout naming the parent", () => [{ name: "d/.wh..", data: "" }], /invalid whiteout/],
      ["a name component past NAME_MAX", () => [{ name: `${"n".repeat(300)}`, data: "x" }], /ENAMETOOLONG/],
      ["a path past PATH_MAX", () => [{ name: `${"d/".repeat(2100)}f`, data: "x" }], /ENAMETOOLONG/],
      [
        "an unknown entry type",
        () => [{ name: "v", type: "raw", typeflag: "V" }],
        /unhandled tar header type/,
      ],
      ["a GNU sparse entry", () => [{ name: "s", type: "raw", typeflag: "S" }], /sparse/],
    ])("%s", async (_what, entries, err) => {
      await expect(applyEntries(entries(outside))).rejects.toThrow(err);
    });

    test("a PAX path holding NUL", async () => {
      const tar = buildTar([{ name: "x", data: "x", pax: { path: "a\0b" } }]);
      await expect(applyBytes(tar)).rejects.toThrow(/path holds NUL/);
    });

    test("an extended header past 1 MiB", async () => {
      const tar = buildTar([
        { name: "x", data: "x", pax: { "SCHILY.xattr.user.big": "v".repeat(1100 * 1024) } },
      ]);
      await expect(applyBytes(tar)).rejects.toThrow(/extended header of \d+ bytes/);
    });

    test("a PAX size past 2^53", async () => {
      await expect(
        applyBytes(buildTar([{ name: "x", data: "x", pax: { size: "99999999999999999999" } }])),
      ).rejects.toThrow(/size is too large/);
    });

    test("a base-256 size past 2^53, and a negative one", async () => {
      const huge = new Uint8Array(12).fill(0xff);
      huge[0] = 0x80;
      await expect(applyBytes(Buffer.concat([rawHeader({ name: "h", size: huge }), end]))).rejects.toThrow(
        /out of range/,
      );
      const neg = new Uint8Array(12).fill(0xff);
      await expect(applyBytes(Buffer.concat([rawHeader({ name: "n", size: neg }), end]))).rejects.toThrow(
        /negative size/,
      );
    });

    test("a size field promising 8 GiB over a stream that stops", async () => {
      const size = Buffer.from("77777777777\0", "latin1");
      const tar = Buffer.concat([rawHeader({ name: "big", size }), Buffer.alloc(4096, 0x61)]);
      await expect(applyBytes(tar)).rejects.toThrow(/unexpected EOF/);
    });

    test("a corrupt checksum", async () => {
      const tar = buildTar([{ name: "x", data: "x" }]);
      tar[0] = tar[0]! ^ 0x01;
      await expect(applyBytes(tar)).rejects.toThrow(/checksum/);
    });

    test("non-octal numbers", async () => {
      await expect(
        applyBytes(Buffer.concat([rawHeader({ name: "m", mode: "07x0644\0" }), end])),
      ).rejects.toThrow(/octal/);
    });

    test("a stream cut inside a header, and inside a body", async () => {
      const tar = buildTar([{ name: "x", data: "x".repeat(5000) }]);
      await expect(applyBytes(tar.subarray(0, 700))).rejects.toThrow(/unexpected EOF/);
      await expect(applyBytes(tar.subarray(0, 512 + 2000))).rejects.toThrow(/unexpected EOF/);
    });

    test("a zero block followed by more entries", async () => {
      const one = buildTar([{ name: "x", data: "x" }]).subarray(0, 1024);
      const tar = Buffer.concat([Buffer.alloc(512), one, end]);
      await expect(applyBytes(tar)).rejects.toThrow(/after an end-of-archive block/);
    });

    test("truncated and corrupt compressed streams", async () => {
      const tar = buildTar([
        { name: "x", data: Buffer.alloc(300000, 7) },
        { name: "y", data: "y" },
      ]);
      const gz = gzip(tar);
      const zs = zstd(tar);
      await expect(applyBytes(gz.subarray(0, gz.length - 10))).rejects.toThrow(/gzip stream truncated/);
      await expect(applyBytes(zs.subarray(0, zs.length - 10))).rejects.toThrow(/zstd stream/);
      await expect(applyBytes(zs.subarray(0, Math.floor(zs.length / 2)))).rejects.toThrow(/zstd stream/);
      const bad = Buffer.from(gz);
      bad.fill(0x55, 20, 60);
      await expect(applyBytes(bad)).rejects.toThrow(/gzip stream (corrupt|truncated)/);
    });

    test("a decompression bomb is cut off at the bound", async () => {
      const zeros = gzip(buildTar([{ name: "zeros", data: Buffer.alloc(64 * 1024 * 1024) }]));
      expect(zeros.length).toBeLessThan(200_000);
      await expect(applyBytes(zeros, { maxUncompressed: 8 * 1024 * 1024 })).rejects.toThrow(
        /decompression bomb/,
      );
    });
  });

  describe.skipIf(!isRoot)(`${mode}: races (CVE-2025-47290 class)`, () => {
    beforeEach(setMode);
    test("a directory swapped with a symlink to the host during the apply never lets a write out", async () => {
      const n = 3000;
      const entries: TarEntry[] = [];
      for (let i = 0; i < n; i++) entries.push({ name: `target/f${i}`, data: `x${i}` });
      const blob = writeBlob(join(base, "blobs"), "race.tar", buildTar(entries));
      mkdirSync(join(root, "target"));
      const swapper = Bun.spawn(
        [
          "sh",
          "-c",
          `cd ${root}; while :; do mv target t.d 2>/dev/null; ln -s ${outside} target 2>/dev/null; rm -f target; mv t.d target 2>/dev/null; done`,
        ],
        { stdout: "ignore", stderr: "ignore" },
      );
      try {
        await applyTar(root, openLayer(blob, { declared: "" }).chunks).catch(() => {});
      } finally {
        swapper.kill();
        await swapper.exited;
      }
    });
  });
}
