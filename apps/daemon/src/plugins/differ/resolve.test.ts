/** Name cleaning and root-confined resolution, with openat2 and with the component walk. */
import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Root, splitName } from "./resolve.ts";
import { emulateOldKernel, openat2Supported } from "./sys.ts";
import { rm, tempDir } from "./testdata/helpers.ts";

describe("splitName (containerd's filepath.Clean, `..` stopping at the root)", () => {
  test.each<[string, [string, string] | undefined]>([
    ["a", ["", "a"]],
    ["a/b/c", ["a/b", "c"]],
    ["./a/b/", ["a", "b"]],
    ["././a", ["", "a"]],
    ["a//b", ["a", "b"]],
    ["/a/b", ["a", "b"]],
    ["../a", ["", "a"]],
    ["a/../b", ["", "b"]],
    ["a/./b", ["a", "b"]],
    [".a/..b/...", [".a/..b", "..."]],
    ["a/.b", ["a", ".b"]],
    [".//a", ["", "a"]],
    ["x/y/../../../../z", ["", "z"]],
    [".", undefined],
    ["./", undefined],
    ["..", undefined],
    ["/", undefined],
    ["", undefined],
    ["a/..", undefined],
    ["./.", undefined],
  ])("%p → %p", (name, want) => {
    expect(splitName(name)).toEqual(want);
  });
});

let base = "";
afterEach(() => {
  if (base) rm(base);
  base = "";
});
afterAll(() => emulateOldKernel(undefined));

for (const mode of ["openat2", "old kernel"] as const) {
  if (mode === "openat2" && !openat2Supported()) continue;
  describe(`Root (${mode})`, () => {
    const make = () => {
      emulateOldKernel(mode === "old kernel");
      base = tempDir("differ-resolve-");
      const root = join(base, "root");
      mkdirSync(join(root, "real"), { recursive: true });
      mkdirSync(join(base, "outside"));
      symlinkSync("/real", join(root, "abs"));
      symlinkSync("../../../outside", join(root, "up"));
      symlinkSync("nowhere/deeper", join(root, "dangling"));
      writeFileSync(join(root, "file"), "");
      return new Root(root);
    };

    test("creates missing parents, 0755, inside the root", () => {
      const r = make();
      try {
        r.dir("a/b/c");
        expect(existsSync(join(base, "root/a/b/c"))).toBe(true);
      } finally {
        r.close();
      }
    });

    test("symlinks resolve inside the root: absolute, climbing, dangling", () => {
      const r = make();
      try {
        r.dir("abs/x");
        r.dir("up/y");
        r.dir("dangling/z");
        expect(existsSync(join(base, "root/real/x"))).toBe(true);
        expect(existsSync(join(base, "root/outside/y"))).toBe(true);
        expect(existsSync(join(base, "root/nowhere/deeper/z"))).toBe(true);
        expect(existsSync(join(base, "outside/y"))).toBe(false);
      } finally {
        r.close();
      }
    });

    test("lookup without create: missing is ENOENT and nothing is created", () => {
      const r = make();
      try {
        expect(() => r.dir("missing/dir", false)).toThrow(/ENOENT/);
        expect(existsSync(join(base, "root/missing"))).toBe(false);
        expect(r.dir("real", false).fd).toBeGreaterThan(0);
      } finally {
        r.close();
      }
    });

    test("a file on the way, a name past PATH_MAX", () => {
      const r = make();
      try {
        expect(() => r.dir("file/x")).toThrow(/not a directory/);
        expect(() => r.dir("d/".repeat(2100).slice(0, -1))).toThrow(/ENAMETOOLONG/);
        expect(existsSync(join(base, "root/d"))).toBe(false);
      } finally {
        r.close();
      }
    });
  });
}
