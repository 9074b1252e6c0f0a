/** Mount options as containerd parses them, read-only views, and temporary mounts that are
 *  always undone. */
import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  type Mount,
  parseMountOptions,
  readonlyMounts,
  withReadonlyTempMount,
  withTempMount,
} from "./mount.ts";
import { isRoot, rm, tempDir } from "./testdata/helpers.ts";
import { mountsUnder } from "./testdata/mounts.ts";

let base = "";
afterEach(() => {
  if (!base) return;
  try {
    expect(mountsUnder(base)).toEqual([]);
  } finally {
    rm(base);
    base = "";
  }
});

describe("parseMountOptions", () => {
  test("flags, cleared flags, propagation and data", () => {
    const p = parseMountOptions(["rbind", "ro", "nosuid", "rw", "rprivate", "index=off", "lowerdir=/a:/b"]);
    expect(p.flags).toBe(0x1000 | 0x4000 | 0x2); // MS_BIND|MS_REC|MS_NOSUID; "rw" cleared MS_RDONLY
    expect(p.propagation).toBe((1 << 18) | 0x4000);
    expect(p.data).toEqual(["index=off", "lowerdir=/a:/b"]);
  });
});

describe("readonlyMounts", () => {
  test("an overlay's upperdir becomes its top lowerdir; other mounts get ro", () => {
    const m: Mount[] = [
      {
        type: "overlay",
        source: "overlay",
        options: ["index=off", "workdir=/w", "upperdir=/u", "lowerdir=/l1:/l2"],
      },
      { type: "bind", source: "/s", options: ["rbind", "rw"] },
    ];
    expect(readonlyMounts(m)).toEqual([
      { type: "overlay", source: "overlay", options: ["index=off", "lowerdir=/u:/l1:/l2"] },
      { type: "bind", source: "/s", options: ["rbind", "ro"] },
    ]);
  });
});

describe.skipIf(!isRoot)("temporary mounts", () => {
  test("a read-only bind is read-only, and is gone afterwards with its mount point", async () => {
    base = tempDir("differ-mount-");
    const src = join(base, "src");
    const tmp = join(base, "tmp");
    mkdirSync(src);
    mkdirSync(tmp);
    writeFileSync(join(src, "f"), "x");
    await withReadonlyTempMount(
      tmp,
      [{ type: "bind", source: src, options: ["rbind", "rw"] }],
      async (root) => {
        expect(readdirSync(root)).toEqual(["f"]);
        expect(() => writeFileSync(join(root, "g"), "y")).toThrow(/EROFS|read-only/);
      },
    );
    expect(readdirSync(tmp)).toEqual([]);
  });

  test("a failing callback still unmounts", async () => {
    base = tempDir("differ-mount-");
    const src = join(base, "src");
    const tmp = join(base, "tmp");
    mkdirSync(src);
    mkdirSync(tmp);
    await expect(
      withTempMount(tmp, [{ type: "bind", source: src, options: ["rbind"] }], async () => {
        throw new Error("boom");
      }),
    ).rejects.toThrow("boom");
    expect(readdirSync(tmp)).toEqual([]);
  });

  test("a mount that fails leaves nothing behind; a target escaping the root is refused", async () => {
    base = tempDir("differ-mount-");
    const tmp = join(base, "tmp");
    mkdirSync(tmp);
    await expect(
      withTempMount(
        tmp,
        [{ type: "bind", source: join(base, "missing"), options: ["rbind"] }],
        async () => {},
      ),
    ).rejects.toThrow(/failed to mount/);
    await expect(
      withTempMount(
        tmp,
        [{ type: "bind", source: base, options: ["rbind"], target: "../../x" }],
        async () => {},
      ),
    ).rejects.toThrow(/escapes/);
    expect(readdirSync(tmp)).toEqual([]);
    expect(existsSync(join(base, "x"))).toBe(false);
  });

  test("an overlay with more lowerdirs than fit in a page is mounted from their common parent", async () => {
    base = tempDir("differ-mount-");
    // Long paths, short snapshot ids: what containerd's compaction relies on too.
    const layers = join(base, "x".repeat(120), "y".repeat(120), "snapshots");
    const tmp = join(base, "tmp");
    mkdirSync(tmp);
    const lowers: string[] = [];
    for (let i = 0; i < 30; i++) {
      const d = join(layers, String(i), "fs");
      mkdirSync(d, { recursive: true });
      writeFileSync(join(d, `f${i}`), String(i));
      lowers.push(d);
    }
    const opt = `lowerdir=${lowers.join(":")}`;
    expect(opt.length).toBeGreaterThan(4096);
    await withTempMount(tmp, [{ type: "overlay", source: "overlay", options: [opt] }], async (root) => {
      expect(readdirSync(root).length).toBe(30);
    });
    expect(readdirSync(tmp)).toEqual([]);
  });
});
