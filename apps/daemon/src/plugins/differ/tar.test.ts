/** The tar reader and writer on their own: formats, raw PAX bytes, chunking, end rules. */
import { describe, expect, test } from "bun:test";
import { formatPaxRecords, parsePaxRecords, paxTime } from "./pax.ts";
import { type TarHeader, TarReader, TypeFlag, xattrsOf } from "./tar.ts";
import { TarWriter } from "./tar-writer.ts";
import { BINARY_XATTR, buildTar, run } from "./testdata/helpers.ts";

interface Seen {
  h: TarHeader;
  body: Buffer;
}

/** Reads `tar` pushed in pieces of the given sizes (cycled). */
function read(tar: Uint8Array, sizes: number[] = [tar.length]): Seen[] {
  const out: Seen[] = [];
  let parts: Buffer[] = [];
  let cur: TarHeader | undefined;
  const r = new TarReader({
    entry(h) {
      cur = h;
      parts = [];
    },
    data(c, s, e) {
      parts.push(Buffer.from(c.subarray(s, e)));
    },
    entryEnd() {
      out.push({ h: cur!, body: Buffer.concat(parts) });
    },
  });
  let off = 0;
  for (let i = 0; off < tar.length; i++) {
    const n = Math.max(1, sizes[i % sizes.length]!);
    r.push(tar.subarray(off, off + n));
    off += n;
  }
  r.end();
  return out;
}

const summary = (s: Seen[]) =>
  s.map(({ h, body }) => [String.fromCharCode(h.typeflag), h.name, h.linkname, h.size, body.toString("hex")]);

describe("TarReader", () => {
  const entries = [
    { name: "dir/", type: "dir" as const },
    { name: "dir/file", data: "hello" },
    { name: `long/${"x".repeat(150)}`, data: "long" },
    { name: "sym", type: "symlink" as const, link: `t/${"y".repeat(120)}` },
    { name: "dev", type: "char" as const, major: 4, minor: 64 },
    {
      name: "caps",
      data: "c",
      pax: { "SCHILY.xattr.security.capability": BINARY_XATTR, "SCHILY.xattr.user.t": "v" },
    },
    { name: "big", data: Buffer.alloc(70000, 0xab), uid: 3000000, mtime: 1700000000 },
  ];

  test("PAX: long names, binary xattr values byte for byte, devices, big ids", () => {
    const seen = read(buildTar(entries));
    const caps = seen.find((s) => s.h.name === "caps")!.h;
    expect(xattrsOf(caps).map(([k, v]) => [k, Buffer.from(v).toString("hex")])).toEqual([
      ["security.capability", Buffer.from(BINARY_XATTR).toString("hex")],
      ["user.t", "76"],
    ]);
    expect(seen.find((s) => s.h.name === `long/${"x".repeat(150)}`)!.body.toString()).toBe("long");
    expect(seen.find((s) => s.h.name === "sym")!.h.linkname).toBe(`t/${"y".repeat(120)}`);
    expect(seen.find((s) => s.h.name === "dev")!.h).toMatchObject({ devmajor: 4, devminor: 64 });
    expect(seen.find((s) => s.h.name === "big")!.h).toMatchObject({ uid: 3000000, size: 70000 });
  });

  test("GNU format: L/K long names and base-256 numbers", () => {
    const gnu = entries.filter((e) => !e.pax);
    expect(summary(read(buildTar(gnu, "gnu")))).toEqual(summary(read(buildTar(gnu, "pax"))));
    expect(read(buildTar(gnu, "gnu")).find((s) => s.h.name === "big")!.h.uid).toBe(3000000);
  });

  test("any chunking gives the same entries", () => {
    const tar = buildTar(entries);
    const whole = summary(read(tar));
    for (const sizes of [[1], [511, 513], [7, 1000, 3], [512], [100000]])
      expect(summary(read(tar, sizes))).toEqual(whole);
  });

  test("GNU tar's own archive: ustar names, GNU long names, sub-second PAX mtime", () => {
    const dir = run(["mktemp", "-d"]).toString().trim();
    run([
      "sh",
      "-c",
      `cd ${dir} && mkdir -p a/${"b".repeat(120)} && touch -d '2022-02-02 02:02:02.25' f && echo hi > a/${"b".repeat(120)}/c`,
    ]);
    const gnu = run(["tar", "--format=gnu", "-C", dir, "-cf", "-", "."]);
    const pax = run(["tar", "--format=posix", "-C", dir, "-cf", "-", "."]);
    run(["rm", "-rf", dir]);
    const names = (s: Seen[]) => s.map((x) => x.h.name).sort();
    expect(names(read(gnu))).toEqual(names(read(pax)));
    const f = read(pax).find((s) => s.h.name === "./f")!.h;
    expect([f.mtime, f.mtimeNsec]).toEqual([1643767322, 250000000]);
  });

  test("header-only types have no body whatever their size field says (Go's rule)", () => {
    const tar = buildTar([
      { name: "d", type: "raw", typeflag: "5", data: "" },
      { name: "f", data: "x" },
    ]);
    // Give the directory header a size of 100 without any body after it.
    const h = Buffer.from(tar.subarray(0, 512));
    h.write("00000000144\0", 124, "latin1");
    h.fill(0x20, 148, 156);
    let sum = 0;
    for (const b of h) sum += b;
    h.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148, "latin1");
    const patched = Buffer.concat([h, tar.subarray(512)]);
    expect(read(patched).map((s) => s.h.name)).toEqual(["d/", "f"]);
  });

  test("an archive may end after one zero block, or with none", () => {
    const tar = buildTar([{ name: "f", data: "x" }]);
    expect(read(tar.subarray(0, 1024 + 512)).length).toBe(1);
    expect(read(tar.subarray(0, 1024)).length).toBe(1);
  });

  test("legacy regular files ('\\0') with a trailing slash are directories", () => {
    const tar = buildTar([
      { name: "old/", type: "raw", typeflag: "\0" },
      { name: "oldf", type: "raw", typeflag: "\0", data: "z" },
    ]);
    expect(read(tar).map((s) => [s.h.name, s.h.typeflag])).toEqual([
      ["old/", TypeFlag.Dir],
      ["oldf", TypeFlag.Reg],
    ]);
  });
});

describe("PAX records", () => {
  test("round trip with binary values, keys sorted as written", () => {
    const body = formatPaxRecords([
      ["path", Buffer.from("a/b")],
      ["SCHILY.xattr.user.x", BINARY_XATTR],
      ["k", Buffer.alloc(0)],
      ["nine", Buffer.from("x".repeat(92))],
    ]);
    const m = parsePaxRecords(body);
    expect(Buffer.from(m.get("SCHILY.xattr.user.x")!)).toEqual(Buffer.from(BINARY_XATTR));
    expect(m.get("k")!.length).toBe(0);
    expect(m.get("nine")!.length).toBe(92);
  });

  test.each([
    ["1700000000", [1700000000, 0]],
    ["1700000000.5", [1700000000, 500000000]],
    ["1.1234567891", [1, 123456789]],
    ["-1.25", [-2, 750000000]],
    ["-5", [-5, 0]],
  ])("time %p", (s, want) => {
    expect(paxTime("mtime", Buffer.from(s))).toEqual(want as [number, number]);
  });

  test.each(["3 x\n", "10 k=v", "abc k=v\n", "6 =v\n", "99 k=v\n", "5 kv\n"])(
    "malformed %p is refused",
    (s) => {
      expect(() => parsePaxRecords(Buffer.from(s))).toThrow(/PAX record/);
    },
  );
});

describe("TarWriter", () => {
  test("what it writes GNU tar lists, and the reader reads back", async () => {
    const chunks: Uint8Array[] = [];
    const tw = new TarWriter(async (c) => {
      chunks.push(Buffer.from(c));
    });
    const big = Buffer.alloc(3 * 1024 * 1024 + 5, 1);
    await tw.writeHeader({
      name: "d/",
      typeflag: TypeFlag.Dir,
      mode: 0o2755,
      uid: 1,
      gid: 2,
      size: 0,
      mtime: 1,
    });
    await tw.writeHeader({
      name: "d/big",
      typeflag: TypeFlag.Reg,
      mode: 0o644,
      uid: 0,
      gid: 0,
      size: big.length,
      mtime: 2,
    });
    await tw.write(big);
    await tw.writeHeader({
      name: `d/${"p".repeat(140)}/${"q".repeat(90)}`,
      typeflag: TypeFlag.Reg,
      mode: 0o600,
      uid: 4000000,
      gid: 0,
      size: 0,
      mtime: 3,
      xattrs: [["security.capability", BINARY_XATTR]],
    });
    await tw.writeHeader({
      name: "caf\xe9",
      typeflag: TypeFlag.Symlink,
      mode: 0o777,
      uid: 0,
      gid: 0,
      size: 0,
      mtime: 4,
      linkname: "t".repeat(150),
    });
    await tw.close();
    const tar = Buffer.concat(chunks);
    expect(tar.length % 512).toBe(0);
    const listed = run(["tar", "--numeric-owner", "-tvf", "-"], { stdin: tar }).toString();
    expect(listed).toContain("4000000/0");
    expect(listed).toContain(`${"q".repeat(90)}`);
    const seen = read(tar);
    expect(seen.map((s) => s.h.name)).toEqual([
      "d/",
      "d/big",
      `d/${"p".repeat(140)}/${"q".repeat(90)}`,
      "caf\xe9",
    ]);
    expect(seen[1]!.body.equals(big)).toBe(true);
    expect(Buffer.from(xattrsOf(seen[2]!.h)[0]![1])).toEqual(Buffer.from(BINARY_XATTR));
    expect(seen[3]!.h.linkname).toBe("t".repeat(150));
    expect(seen[0]!.h.mode).toBe(0o2755);
  });
});
