/** Daemon-side import, export and push through containerd 1.7's Transfer service, driven by a
 *  small Connect client (transfer-client.ts) as the Go client drives it: archive bytes stream
 *  over Streaming streams within the window the other side grants.
 *  - import of an OCI layout and of a (gzipped) docker-archive, with unpack; names from the
 *    archive through a prefix reference; the docker conversion gives the manifest digest Go
 *    ctr's importer gives;
 *  - export to an OCI layout tar that real containerd imports with the same digests;
 *  - push to a registry children first, pulled back with the same digests; a second push finds
 *    every blob there;
 *  - hostile archives (a blob that is not what its name says, a descriptor size that does not
 *    match its blob, `../` names, oversized JSON, garbage) fail with a clear error and leave
 *    no image. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { createDaemonTransport } from "@bunkerd/client";
import type { Transport } from "@connectrpc/connect";
import {
  canRunRegistry,
  startRegistry,
  type TestRegistry,
} from "../../packages/registry/src/testutil/registry.ts";
import { type DaemonHandle, hasBinary, startDaemon } from "../harness/daemon.ts";
import { buildImage, dockerArchiveTar, ociLayoutTar, sha256, type TestImage } from "../harness/images.ts";
import { header, trailer } from "../../apps/daemon/src/plugins/transfer/tar-writer.ts";
import { multiArchLayout, rawTar } from "./archives.ts";
import {
  credentialStream,
  registry,
  runTransfer,
  imageStore,
  transferExport,
  transferImport,
} from "./transfer-client.ts";

const ready = canRunRegistry() && hasBinary("ctr") && hasBinary("containerd");
const today = () => new Date().toISOString().slice(0, 10);
const AMD64 = { os: "linux", architecture: "amd64" };

function layoutEntries(img: TestImage, ref: string, override: Partial<{ manifestSize: number }> = {}) {
  const index = {
    schemaVersion: 2,
    manifests: [
      {
        mediaType: img.manifest.mediaType,
        digest: img.manifest.digest,
        size: override.manifestSize ?? img.manifest.size,
        platform: { architecture: "amd64", os: "linux" },
        annotations: { "io.containerd.image.name": ref, "org.opencontainers.image.ref.name": "latest" },
      },
    ],
  };
  const entries: [string, Uint8Array | string][] = [
    ["oci-layout", JSON.stringify({ imageLayoutVersion: "1.0.0" })],
    ["index.json", JSON.stringify(index)],
  ];
  for (const b of img.blobs) entries.push([`blobs/sha256/${b.digest.slice(7)}`, b.data]);
  return entries;
}

describe.skipIf(!ready)("Transfer: import, export and push", () => {
  let reg: TestRegistry;
  let d: DaemonHandle;
  let t: Transport;
  const img = buildImage([{ "etc/hello": "hello\n", "bin/tool": "#!/bin/sh\n" }, { "etc/second": "2\n" }]);
  const prefix = `import-${today()}`;
  const importStore = (extra: object = {}) => ({
    extraReferences: [{ name: prefix, isPrefix: true, allowOverwrite: true }],
    platforms: [AMD64],
    unpacks: [{ platform: AMD64 }],
    ...extra,
  });
  const names = async (ns = "default") =>
    (await d.ctr(["-n", ns, "images", "ls", "-q"])).stdout.trim().split("\n").filter(Boolean);

  beforeAll(async () => {
    reg = await startRegistry();
    d = await startDaemon("bunkerd");
    t = createDaemonTransport(d.address, { namespace: "default" });
  }, 60_000);
  afterAll(async () => {
    await d?.stop();
    await reg?.stop();
  });

  test("an OCI layout imports under its annotated name, unpacked; progress as containerd reports it", async () => {
    const { events } = await transferImport(
      t,
      ociLayoutTar(img, "docker.io/library/sample:oci"),
      importStore(),
    );
    expect(events.map((e) => e.event)).toEqual(["Importing", "saved", "Completed import"]);
    expect(events[1]!.name).toBe("docker.io/library/sample:oci");
    expect(events[1]!.desc?.digest).toBe(img.manifest.digest);
    const ls = await d.ctr(["images", "ls"]);
    expect(ls.stdout).toMatch(new RegExp(`docker\\.io/library/sample:oci\\s+\\S+\\s+${img.manifest.digest}`));
    const check = await d.ctr(["images", "check", "name==docker.io/library/sample:oci"]);
    expect(check.stdout).toMatch(/complete \(3\/3\)/);
    // Unpacked: the top chain's snapshot is committed and the config points at it.
    const snaps = (await d.ctr(["snapshots", "ls"])).stdout;
    expect(snaps.trim().split("\n").length).toBe(3);
    const content = (await d.ctr(["content", "ls"])).stdout;
    expect(content).toContain("containerd.io/gc.ref.snapshot.overlayfs=sha256:");
  });

  test("the same archive imports into a second namespace, where the blobs are shared, not written", async () => {
    const t2 = createDaemonTransport(d.address, { namespace: "second" });
    await transferImport(t2, ociLayoutTar(img, "docker.io/library/sample:oci"), importStore());
    expect(await names("second")).toEqual(["docker.io/library/sample:oci"]);
    expect((await d.ctr(["-n", "second", "images", "check"])).stdout).toMatch(/complete \(3\/3\)/);
    // Unpacked there too: the snapshots are per namespace.
    expect((await d.ctr(["-n", "second", "snapshots", "ls"])).stdout.trim().split("\n").length).toBe(3);
  });

  test("a gzipped docker-archive gets the manifest Go ctr's importer makes; index_name keeps the index", async () => {
    const tar = gzipSync(dockerArchiveTar(img, "sample/docker:latest"));
    const { events } = await transferImport(t, tar, importStore({ name: "idx/archive:1" }));
    const saved = events.filter((e) => e.event === "saved").map((e) => e.name);
    expect(saved).toEqual(["idx/archive:1", "docker.io/sample/docker:latest"]);
    writeFileSync(join(d.dir, "docker.tar"), dockerArchiveTar(img, "sample/docker:latest"));
    const r = await d.ctr(["-n", "goctr", "images", "import", "--no-unpack", join(d.dir, "docker.tar")]);
    expect(r.code).toBe(0);
    const digestOf = async (ns: string, name: string) =>
      (await d.ctr(["-n", ns, "images", "ls", `name==${name}`])).stdout.split("\n")[1]!.split(/\s+/)[2];
    expect(await digestOf("default", "docker.io/sample/docker:latest")).toBe(
      await digestOf("goctr", "docker.io/sample/docker:latest"),
    );
  });

  test("export streams an OCI layout that containerd imports with the same digests", async () => {
    const { tar, run } = await transferExport(
      t,
      { name: "docker.io/library/sample:oci" },
      { platforms: [AMD64] },
    );
    expect(run.events.map((e) => e.event)).toEqual(["Exporting", "Completed export"]);
    const file = join(d.dir, "export.tar");
    writeFileSync(file, tar);
    const list = Bun.spawnSync(["tar", "tf", file]).stdout.toString().trim().split("\n");
    expect(list).toEqual([
      "blobs/",
      "blobs/sha256/",
      ...img.blobs.map((b) => `blobs/sha256/${b.digest.slice(7)}`).sort(),
      "index.json",
      "manifest.json",
      "oci-layout",
    ]);
    const manifestJson = JSON.parse(Bun.spawnSync(["tar", "xOf", file, "manifest.json"]).stdout.toString());
    expect(manifestJson).toEqual([
      {
        Config: `blobs/sha256/${img.config.digest.slice(7)}`,
        RepoTags: ["sample:oci"],
        Layers: img.layers.map((l) => `blobs/sha256/${l.digest.slice(7)}`),
      },
    ]);
    const c = await startDaemon("containerd");
    try {
      const r = await c.ctr(["images", "import", "--no-unpack", file]);
      expect(r.stderr).toBe("");
      const ls = await c.ctr(["images", "ls"]);
      expect(ls.stdout).toMatch(
        new RegExp(`docker\\.io/library/sample:oci\\s+\\S+\\s+${img.manifest.digest}`),
      );
      expect((await c.ctr(["images", "check"])).stdout).toMatch(/complete \(3\/3\)/);
      // And back: containerd's export, imported here through Transfer, names the same digest.
      const back = join(d.dir, "from-containerd.tar");
      expect((await c.ctr(["images", "export", back, "docker.io/library/sample:oci"])).code).toBe(0);
      await transferImport(t, await Bun.file(back).bytes(), importStore({ unpacks: [] }));
    } finally {
      await c.stop();
    }
    expect(await names()).toContain("docker.io/library/sample:oci");
  }, 60_000);

  test("export of a multi-platform index: the asked platform, or all of them", async () => {
    const arm = buildImage([{ "etc/arch": "arm64\n" }], { arch: "arm64" });
    const multi = multiArchLayout(img, arm, "v1");
    const tm = createDaemonTransport(d.address, { namespace: "multi" });
    await transferImport(tm, multi.tar, {
      extraReferences: [{ name: "example.com/multi", isPrefix: true }],
      unpacks: [],
    });
    expect(await names("multi")).toEqual(["example.com/multi:v1"]);
    const entries = (tar: Uint8Array) => {
      const file = join(d.dir, "multi-export.tar");
      writeFileSync(file, tar);
      const list = Bun.spawnSync(["tar", "tf", file]).stdout.toString().trim().split("\n");
      const manifest = JSON.parse(Bun.spawnSync(["tar", "xOf", file, "manifest.json"]).stdout.toString());
      return { list, manifest };
    };
    const armOnly = entries(
      (
        await transferExport(
          tm,
          { name: "example.com/multi:v1" },
          { platforms: [{ os: "linux", architecture: "arm64" }] },
        )
      ).tar,
    );
    expect(armOnly.list).toContain(`blobs/sha256/${arm.layers[0]!.digest.slice(7)}`);
    expect(armOnly.list).not.toContain(`blobs/sha256/${img.layers[0]!.digest.slice(7)}`);
    expect(armOnly.manifest[0].Config).toBe(`blobs/sha256/${arm.config.digest.slice(7)}`);
    expect(armOnly.manifest[0].RepoTags).toEqual(["example.com/multi:v1"]);
    const all = entries(
      (await transferExport(tm, { name: "example.com/multi:v1" }, { allPlatforms: true })).tar,
    );
    for (const b of [...img.blobs, ...arm.blobs])
      expect(all.list).toContain(`blobs/sha256/${b.digest.slice(7)}`);
    // manifest.json names the host's platform (amd64 here) for the index.
    expect(all.manifest[0].Config).toBe(`blobs/sha256/${img.config.digest.slice(7)}`);
  });

  test("push sends children first; a pull back gets the same digests; a second push finds everything", async () => {
    const ref = `${reg.host}/transfer/sample:v1`;
    const { events } = await runTransfer(
      t,
      imageStore({ name: "docker.io/library/sample:oci" }),
      registry(ref),
    );
    const kinds = events.map((e) => e.event);
    expect(kinds[0]).toBe(`Pushing to OCI Registry (${ref})`);
    expect(kinds[1]).toBe("pushing content");
    expect(kinds.at(-2)).toBe("pushed content");
    expect(kinds.at(-1)).toBe(`Completed push to OCI Registry (${ref})`);
    const completed = events.filter((e) => e.event === "complete").map((e) => e.desc?.digest);
    expect([...completed].sort()).toEqual(img.blobs.map((b) => b.digest).sort());
    // The manifest went last: after every blob it lists.
    expect(completed.at(-1) ?? "").toBe(img.manifest.digest);
    const inspect = Bun.spawnSync(["skopeo", "inspect", "--raw", "--tls-verify=false", `docker://${ref}`]);
    expect(sha256(new Uint8Array(inspect.stdout))).toBe(img.manifest.digest);

    const again = await runTransfer(t, imageStore({ name: "docker.io/library/sample:oci" }), registry(ref));
    const exists = again.events.filter((e) => e.event === "already exists").map((e) => e.desc?.digest);
    expect(exists.sort()).toEqual([img.config.digest, ...img.layers.map((l) => l.digest)].sort());

    const pulled = await d.ctr(["-n", "pulled", "images", "pull", "--plain-http", ref]);
    expect(pulled.code).toBe(0);
    expect((await d.ctr(["-n", "pulled", "images", "ls"])).stdout).toContain(img.manifest.digest);
  }, 60_000);

  test("push mounts blobs the registry has in another repository instead of sending them", async () => {
    // Go ctr's pull records where the blobs came from (containerd.io/distribution.source.*).
    const from = `${reg.host}/transfer/sample:v1`;
    expect((await d.ctr(["-n", "mount", "images", "pull", "--plain-http", from])).code).toBe(0);
    const to = `${reg.host}/elsewhere/copy:v1`;
    const tm = createDaemonTransport(d.address, { namespace: "mount" });
    const { events } = await runTransfer(tm, imageStore({ name: from }), registry(to));
    const exists = events.filter((e) => e.event === "already exists").map((e) => e.desc?.digest);
    expect(exists.sort()).toEqual([img.config.digest, ...img.layers.map((l) => l.digest)].sort());
    // Three blobs, each a POST with mount= and from= that the registry answered 201 Created.
    const mountRe = /elsewhere\/copy\/blobs\/uploads\/\?mount=sha256:\w+&from=transfer\/sample.*status=201/;
    expect(
      reg
        .log()
        .split("\n")
        .filter((l) => mountRe.test(l)).length,
    ).toBe(3);
    const inspect = Bun.spawnSync(["skopeo", "inspect", "--raw", "--tls-verify=false", `docker://${to}`]);
    expect(sha256(new Uint8Array(inspect.stdout))).toBe(img.manifest.digest);
  });

  test("push asks for credentials on the auth stream; without them the registry's refusal comes back", async () => {
    const locked = await startRegistry({ auth: { htpasswd: { users: { alice: "s3cret" } } } });
    try {
      const ref = `${locked.host}/private/sample:v1`;
      const denied = await runTransfer(
        t,
        imageStore({ name: "docker.io/library/sample:oci" }),
        registry(ref),
      ).catch((e) => e);
      expect(String(denied.message)).toMatch(/unauthorized|authorization|401/i);
      const creds = await credentialStream(t, { username: "alice", secret: "s3cret" });
      try {
        await runTransfer(
          t,
          imageStore({ name: "docker.io/library/sample:oci" }),
          registry(ref, { authStream: creds.id }),
        );
      } finally {
        await creds.done();
      }
      expect(creds.asked.length).toBeGreaterThan(0);
      expect(creds.asked[0]).toBe(locked.host);
      const inspect = Bun.spawnSync([
        "skopeo",
        "inspect",
        "--raw",
        "--tls-verify=false",
        "--creds",
        "alice:s3cret",
        `docker://${ref}`,
      ]);
      expect(sha256(new Uint8Array(inspect.stdout))).toBe(img.manifest.digest);
    } finally {
      await locked.stop();
    }
  }, 60_000);

  test("push of an image the store lacks is NotFound", async () => {
    const e = await runTransfer(t, imageStore({ name: "nope:1" }), registry(`${reg.host}/x/y:z`)).catch(
      (x) => x,
    );
    expect(String(e.message)).toContain("not found");
  });

  test("a 384 MiB archive streams through without the daemon holding it", async () => {
    const blobSize = 384 * 1024 * 1024;
    const zeros = new Uint8Array(1024 * 1024);
    const hasher = new Bun.CryptoHasher("sha256");
    for (let i = 0; i < blobSize / zeros.length; i++) hasher.update(zeros);
    const big = `sha256:${hasher.digest("hex")}`;
    const small = buildImage([{ "etc/big": "big\n" }]);
    const entries = layoutEntries(small, "docker.io/library/big:1");
    function* archive() {
      // The small layout, without its trailer, then the big blob, then the trailer.
      const head = rawTar(entries);
      yield head.subarray(0, head.length - 1024);
      yield header(`blobs/sha256/${big.slice(7)}`, { size: blobSize, mode: 0o444, type: "file" });
      for (let i = 0; i < blobSize / zeros.length; i++) yield zeros;
      yield trailer();
    }
    const hwm = () => {
      const status = require("node:fs").readFileSync(`/proc/${d.pid}/status`, "utf8") as string;
      return Number(/VmHWM:\s+(\d+) kB/.exec(status)![1]) * 1024;
    };
    const before = hwm();
    await transferImport(t, archive(), importStore({ unpacks: [] }));
    const grown = hwm() - before;
    expect(await names()).toContain("docker.io/library/big:1");
    // Peak RSS grew by far less than the blob: it was never whole in memory.
    expect(grown).toBeLessThan(blobSize / 3);
  }, 180_000);

  describe("hostile archives leave no image", () => {
    const before = async () => (await names()).sort();
    const refused = async (tar: Uint8Array, message: string | RegExp) => {
      const had = await before();
      const err = await transferImport(t, tar, importStore({ name: "hostile:index" })).catch((e) => e);
      expect(err).toBeInstanceOf(Error);
      expect(String(err.message)).toMatch(message);
      expect(await before()).toEqual(had);
      expect(await names()).not.toContain("hostile:index");
    };
    // A fresh image each time: content an earlier case stored must not fill a gap.
    const fresh = () => buildImage([{ "x/y": `${crypto.randomUUID()}\n` }]);

    test("a blob whose bytes are not its name", async () => {
      const other = fresh();
      const entries = layoutEntries(other, "docker.io/library/hostile:1");
      const i = entries.findIndex(([n]) => n.endsWith(other.layers[0]!.digest.slice(7)));
      entries[i] = [entries[i]![0], new Uint8Array([...other.layers[0]!.data, 1, 2, 3])];
      await refused(rawTar(entries), /blobs\/sha256\/[0-9a-f]{64}.*content has digest sha256:/);
    });

    test("a descriptor whose size does not match its blob", async () => {
      const other = fresh();
      const entries = layoutEntries(other, "docker.io/library/hostile:2", {
        manifestSize: other.manifest.size + 7,
      });
      await refused(rawTar(entries), `the archive has ${other.manifest.size} bytes, its descriptor says`);
    });

    test("a descriptor naming a blob the archive lacks", async () => {
      const other = fresh();
      const entries = layoutEntries(other, "docker.io/library/hostile:3").filter(
        ([n]) => !n.endsWith(other.config.digest.slice(7)),
      );
      await refused(rawTar(entries), `content digest ${other.config.digest}: not found`);
    });

    test("names that climb out of the archive, or are absolute", async () => {
      await refused(rawTar([["../evil.json", "{}"]]), 'tar entry "../evil.json": path escapes the archive');
      await refused(rawTar([["blobs/../../x.tar", "x"]]), "path escapes the archive");
      await refused(rawTar([["/etc/passwd.json", "x"]]), "absolute path");
    });

    test("an index.json past containerd's 20 MiB JSON limit, and input that is not tar", async () => {
      const big = new Uint8Array(20 * 1024 * 1024 + 1).fill(0x20);
      await refused(
        rawTar([
          ["oci-layout", '{"imageLayoutVersion":"1.0.0"}'],
          ["index.json", big],
        ]),
        "more than",
      );
      await refused(new TextEncoder().encode("not a tar archive at all ".repeat(100)), "checksum");
      await refused(rawTar([["README", "hi"]]), "unrecognized image format");
    });
  });
});
