/** `ctr images import` and `ctr images export` (Go ctr 1.6, which does both client-side over the
 *  Content and Images services) against bunkerd, checked against real containerd:
 *  - a multi-platform OCI layout: default platform vs --all-platforms, --base-name, --digests,
 *    --index-name, unpack vs --no-unpack; a docker-archive;
 *  - export (--platform, --all-platforms) from bunkerd imported into containerd and the other way
 *    round, with the same manifest digests;
 *  - hostile archives (a blob whose bytes are not its name, `../` names) end the same way on both. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type DaemonHandle, hasBinary, startDaemon } from "../harness/daemon.ts";
import { buildImage, dockerArchiveTar, ociLayoutTar } from "../harness/images.ts";
import { multiArchLayout, rawTar } from "./archives.ts";

const ready = hasBinary("ctr") && hasBinary("containerd") && process.getuid?.() === 0;

describe.skipIf(!ready)("ctr images import/export against bunkerd and containerd", () => {
  let bk: DaemonHandle;
  let cd: DaemonHandle;
  let dir: string;
  const amd = buildImage([{ "etc/arch": "amd64\n" }, { "etc/two": "2\n" }]);
  const arm = buildImage([{ "etc/arch": "arm64\n" }], { arch: "arm64" });
  const multi = multiArchLayout(amd, arm, "v1");
  const both = () => [bk, cd] as const;
  const lsOf = async (d: DaemonHandle, ns = "default") =>
    (await d.ctr(["-n", ns, "images", "ls"])).stdout
      .trim()
      .split("\n")
      .slice(1)
      .map((l) => l.split(/\s+/).slice(0, 3).join(" "))
      .sort();
  const blobsOf = async (d: DaemonHandle, ns = "default") =>
    (await d.ctr(["-n", ns, "content", "ls", "-q"])).stdout.trim().split("\n").filter(Boolean).sort();

  beforeAll(async () => {
    dir = mkdtempSync("/tmp/ie-ctr-");
    writeFileSync(join(dir, "multi.tar"), multi.tar);
    writeFileSync(join(dir, "oci.tar"), ociLayoutTar(amd, "docker.io/library/single:oci"));
    writeFileSync(join(dir, "docker.tar"), dockerArchiveTar(amd, "sample/docker:latest"));
    [bk, cd] = await Promise.all([startDaemon("bunkerd"), startDaemon("containerd")]);
  }, 60_000);
  afterAll(async () => {
    await Promise.all([bk?.stop(), cd?.stop()]);
    rmSync(dir, { recursive: true, force: true });
  });

  test("import flags give the same images, content and snapshots on both daemons", async () => {
    const cases: [ns: string, args: string[]][] = [
      ["plain", ["--base-name", "example.com/multi", join(dir, "multi.tar")]],
      ["all", ["--all-platforms", "--no-unpack", "--base-name", "example.com/multi", join(dir, "multi.tar")]],
      ["digests", ["--digests", "--no-unpack", "--base-name", "example.com/multi", join(dir, "multi.tar")]],
      ["indexname", ["--index-name", "example.com/the-index:1", "--no-unpack", join(dir, "multi.tar")]],
      ["single", [join(dir, "oci.tar")]],
      ["docker", [join(dir, "docker.tar")]],
    ];
    for (const [ns, args] of cases) {
      for (const d of both()) {
        const r = await d.ctr(["-n", ns, "images", "import", ...args]);
        expect(r.stderr).toBe("");
        expect(r.code).toBe(0);
      }
      // The import's leftovers (the archive's own index.json) go with the collector, on its own
      // schedule in each daemon: compare once both have settled.
      const state = async (d: DaemonHandle) => {
        const snaps = (await d.ctr(["-n", ns, "snapshots", "ls"])).stdout.trim().split("\n").length - 1;
        return { ns, images: await lsOf(d, ns), content: await blobsOf(d, ns), snaps };
      };
      let seen = [await state(bk), await state(cd)];
      for (let i = 0; i < 40 && !Bun.deepEquals(seen[0], seen[1]); i++) {
        await Bun.sleep(250);
        seen = [await state(bk), await state(cd)];
      }
      expect(seen[0]).toEqual(seen[1]!);
    }
    // What the cases mean, on bunkerd.
    expect(await lsOf(bk, "plain")).toEqual([
      `example.com/multi:v1 application/vnd.oci.image.index.v1+json ${multi.indexDigest}`,
    ]);
    expect(await lsOf(bk, "digests")).toContainEqual(
      `example.com/multi@${multi.indexDigest} application/vnd.oci.image.index.v1+json ${multi.indexDigest}`,
    );
    expect((await lsOf(bk, "indexname"))[0]).toMatch(
      /^example\.com\/the-index:1 application\/vnd\.oci\.image\.index/,
    );
    // Unpack: the default platform's layers only (two), none with --no-unpack.
    const snaps = async (ns: string) =>
      (await bk.ctr(["-n", ns, "snapshots", "ls"])).stdout.trim().split("\n").length - 1;
    expect(await snaps("plain")).toBe(2);
    expect(await snaps("all")).toBe(0);
  }, 120_000);

  test("export from bunkerd imports into containerd, and the other way round, with the same digests", async () => {
    for (const [from, to] of [
      [bk, cd],
      [cd, bk],
    ] as const) {
      const out = join(dir, `export-${from.kind}.tar`);
      const all = join(dir, `export-all-${from.kind}.tar`);
      const ex = await from.ctr([
        "-n",
        "plain",
        "images",
        "export",
        "--platform",
        "linux/amd64",
        out,
        "example.com/multi:v1",
      ]);
      expect(ex.stderr).toBe("");
      expect(ex.code).toBe(0);
      expect(
        (await from.ctr(["-n", "all", "images", "export", "--all-platforms", all, "example.com/multi:v1"]))
          .code,
      ).toBe(0);
      const ns = `from-${from.kind}`;
      expect((await to.ctr(["-n", ns, "images", "import", "--no-unpack", out])).code).toBe(0);
      expect(await lsOf(to, ns)).toEqual([
        `example.com/multi:v1 application/vnd.oci.image.index.v1+json ${multi.indexDigest}`,
      ]);
      expect(
        (await to.ctr(["-n", `${ns}-all`, "images", "import", "--all-platforms", "--no-unpack", all])).code,
      ).toBe(0);
      // --all-platforms exported the arm64 tree too.
      expect(await blobsOf(to, `${ns}-all`)).toEqual(expect.arrayContaining(arm.blobs.map((b) => b.digest)));
      expect(await blobsOf(to, ns)).not.toContain(arm.layers[0]!.digest);
      // The archive lists the same entries whichever daemon wrote it.
      const list = (f: string) => Bun.spawnSync(["tar", "tf", f]).stdout.toString().trim().split("\n").sort();
      if (from === cd) expect(list(out)).toEqual(list(join(dir, `export-${bk.kind}.tar`)));
    }
  }, 120_000);

  test("hostile archives: a blob whose bytes are not its name, and `../` names, end the same on both", async () => {
    const bad = buildImage([{ "etc/bad": `${crypto.randomUUID()}\n` }]);
    const entries: [string, Uint8Array | string][] = [
      ["oci-layout", JSON.stringify({ imageLayoutVersion: "1.0.0" })],
      [
        "index.json",
        JSON.stringify({
          schemaVersion: 2,
          manifests: [
            {
              mediaType: bad.manifest.mediaType,
              digest: bad.manifest.digest,
              size: bad.manifest.size,
              annotations: { "io.containerd.image.name": "docker.io/library/bad:1" },
            },
          ],
        }),
      ],
    ];
    for (const b of bad.blobs) {
      // The manifest entry holds more bytes than its descriptor says (and so other bytes).
      const data = b === bad.manifest ? new Uint8Array([...b.data, 0x20, 0x20]) : b.data;
      entries.push([`blobs/sha256/${b.digest.slice(7)}`, data]);
    }
    writeFileSync(join(dir, "bad.tar"), rawTar(entries));
    writeFileSync(join(dir, "climb.tar"), rawTar([["../../evil", "x"], ...entries.slice(0, 1)]));
    for (const d of both()) {
      const r = await d.ctr(["-n", "hostile", "images", "import", "--no-unpack", join(dir, "bad.tar")]);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain(`${bad.manifest.digest}: not found`);
      const c = await d.ctr(["-n", "hostile", "images", "import", "--no-unpack", join(dir, "climb.tar")]);
      expect(c.code).not.toBe(0);
      expect(await lsOf(d, "hostile")).toEqual([]);
    }
  }, 60_000);
});
