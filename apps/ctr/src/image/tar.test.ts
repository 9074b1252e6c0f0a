import { expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { readTar, TarWriter } from "./tar.ts";

test("what TarWriter writes, GNU tar lists and readTar reads back", async () => {
  const dir = mkdtempSync("/tmp/bctr-tar-");
  try {
    const path = join(dir, "a.tar");
    const w = new TarWriter(path);
    w.dir("blobs");
    const big = crypto.getRandomValues(new Uint8Array(70_000));
    async function* chunks() {
      yield big.subarray(0, 1000);
      yield big.subarray(1000);
    }
    await w.file("blobs/one", big.length, chunks());
    await w.file("index.json", 2, new TextEncoder().encode("{}"));
    w.close();
    const list = Bun.spawnSync(["tar", "tf", path], { stdout: "pipe" }).stdout.toString();
    expect(list).toBe("blobs/\nblobs/one\nindex.json\n");
    const entries = readTar(new Uint8Array(readFileSync(path)));
    expect(entries.map((e) => [e.name, e.type])).toEqual([
      ["blobs", "dir"],
      ["blobs/one", "file"],
      ["index.json", "file"],
    ]);
    expect(entries[1]!.data).toEqual(big);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a body shorter than its header says is refused", async () => {
  const dir = mkdtempSync("/tmp/bctr-tar-");
  try {
    const w = new TarWriter(join(dir, "b.tar"));
    await expect(w.file("x", 10, new Uint8Array(3))).rejects.toThrow(
      "tar entry x: wrote 3 bytes, expected 10",
    );
    w.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("GNU long names and ./ prefixes are read", () => {
  const dir = mkdtempSync("/tmp/bctr-tar-");
  try {
    const long = `${"d".repeat(120)}/file`;
    Bun.spawnSync(["mkdir", "-p", join(dir, "src", "d".repeat(120))]);
    Bun.write(join(dir, "src", long), "hi");
    Bun.spawnSync(["tar", "--format=gnu", "-C", join(dir, "src"), "-cf", join(dir, "l.tar"), "./"]);
    const names = readTar(new Uint8Array(readFileSync(join(dir, "l.tar")))).map((e) => e.name);
    expect(names).toContain(long);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
