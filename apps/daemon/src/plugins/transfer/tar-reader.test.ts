import { expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TarReader } from "./tar-reader.ts";
import { header, padding, trailer } from "./tar-writer.ts";

async function* chunks(bytes: Uint8Array, size: number) {
  for (let i = 0; i < bytes.length; i += size) yield bytes.slice(i, i + size);
}

async function readAll(bytes: Uint8Array, chunk: number) {
  const r = new TarReader(chunks(bytes, chunk));
  const out: { name: string; type: string; linkname: string; body: string }[] = [];
  for (let e = await r.next(); e; e = await r.next()) {
    const parts: Uint8Array[] = [];
    for await (const c of r.body()) parts.push(c.slice());
    out.push({ name: e.name, type: e.type, linkname: e.linkname, body: Buffer.concat(parts).toString() });
  }
  return out;
}

function gnuTar(format: string): Uint8Array {
  const dir = mkdtempSync(join(tmpdir(), "tar-reader-"));
  try {
    const long = `${"d".repeat(60)}/${"f".repeat(80)}.json`;
    mkdirSync(join(dir, "d".repeat(60)));
    writeFileSync(join(dir, long), "long name\n");
    writeFileSync(join(dir, "short"), "x".repeat(1000));
    symlinkSync("short", join(dir, "link"));
    const r = Bun.spawnSync(["tar", `--format=${format}`, "--sort=name", "-C", dir, "-cf", "-", "."]);
    return new Uint8Array(r.stdout);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test.each(["gnu", "pax", "ustar"])(
  "GNU tar --format=%s reads the same in 1-, 7- and 4096-byte chunks",
  async (format) => {
    const tar = gnuTar(format);
    const want = await readAll(tar, 1 << 20);
    const long = want.find((e) => e.name.endsWith(".json"));
    expect(long).toMatchObject({ type: "file", body: "long name\n" });
    expect(long!.name).toBe(`./${"d".repeat(60)}/${"f".repeat(80)}.json`);
    expect(want.find((e) => e.name === "./link")).toMatchObject({ type: "symlink", linkname: "short" });
    expect(want.find((e) => e.name === "./short")!.body).toBe("x".repeat(1000));
    for (const size of [1, 7, 4096]) expect(await readAll(tar, size)).toEqual(want);
  },
);

test("what tar-writer writes, GNU tar lists and TarReader reads back; bodies may be skipped", async () => {
  const body = new TextEncoder().encode("hello");
  const tar = Buffer.concat([
    header("blobs/", { size: 0, mode: 0o755, type: "dir" }),
    header("blobs/sha256/abc", { size: body.length, mode: 0o444, type: "file" }),
    body,
    padding(body.length),
    header("index.json", { size: 2, mode: 0o644, type: "file" }),
    new TextEncoder().encode("{}"),
    padding(2),
    trailer(),
  ]);
  const listed = Bun.spawnSync(["tar", "tvf", "-"], { stdin: tar }).stdout.toString();
  expect(listed).toMatch(/^dr-?wxr-xr-x 0\/0\s+0 1970-01-01 00:00 blobs\/$/m);
  expect(listed).toMatch(/^-r--r--r-- 0\/0\s+5 1970-01-01 00:00 blobs\/sha256\/abc$/m);
  const r = new TarReader(chunks(tar, 3));
  expect((await r.next())?.type).toBe("dir");
  expect(await r.next()).toMatchObject({ name: "blobs/sha256/abc", size: 5 });
  // Not read: next() skips it.
  expect(await r.next()).toMatchObject({ name: "index.json" });
  expect(new TextDecoder().decode(await r.readAll(10))).toBe("{}");
  expect(await r.next()).toBeUndefined();
});

test("a truncated archive, a bad checksum and an oversized whole read are refused by name", async () => {
  const tar = Buffer.concat([
    header("a.json", { size: 600, mode: 0o644, type: "file" }),
    new Uint8Array(100),
  ]);
  const r = new TarReader(chunks(tar, 64));
  await r.next();
  expect(r.skip()).rejects.toThrow("tar archive is truncated");
  const bad = header("a", { size: 0, mode: 0o644, type: "file" });
  bad[0] = 0x62;
  expect(new TarReader(chunks(bad, 512)).next()).rejects.toThrow("checksum");
  const big = Buffer.concat([
    header("index.json", { size: 2048, mode: 0o644, type: "file" }),
    new Uint8Array(2048),
    trailer(),
  ]);
  const r2 = new TarReader(chunks(big, 512));
  await r2.next();
  expect(r2.readAll(1024, "index.json")).rejects.toThrow("index.json is 2048 bytes, more than 1024 allowed");
});
