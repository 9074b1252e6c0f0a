/** Images through the Go ctr against bunkerd: `images import --no-unpack` of an OCI layout tar
 *  and of a docker-archive built here, then ls, tag, label, check and `rm --sync`, after which
 *  no blob is left on disk. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type DaemonHandle, hasBinary, startDaemon } from "../harness/daemon.ts";
import { buildImage, dockerArchiveTar, ociLayoutTar } from "../harness/images.ts";

describe.skipIf(!hasBinary("ctr"))("images with the Go ctr", () => {
  let d: DaemonHandle;
  const img = buildImage([{ "etc/hello": "hello\n", "bin/tool": "#!/bin/sh\n" }, { "etc/second": "2\n" }]);
  const blobsOnDisk = () => {
    const dir = join(d.root, "io.containerd.content.v1.content/blobs/sha256");
    return existsSync(dir) ? readdirSync(dir).sort() : [];
  };
  beforeAll(async () => {
    d = await startDaemon("bunkerd");
    writeFileSync(join(d.dir, "oci.tar"), ociLayoutTar(img, "docker.io/library/sample:oci"));
    writeFileSync(join(d.dir, "docker.tar"), dockerArchiveTar(img, "sample/docker:latest"));
  });
  afterAll(async () => {
    await d?.stop();
  });

  test("import an OCI layout and a docker-archive; ls shows both with containerd's columns", async () => {
    for (const f of ["oci.tar", "docker.tar"]) {
      const r = await d.ctr(["images", "import", "--no-unpack", join(d.dir, f)]);
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
    }
    const ls = await d.ctr(["images", "ls"]);
    expect(ls.stdout).toMatch(/^REF\s+TYPE\s+DIGEST\s+SIZE\s+PLATFORMS\s+LABELS/);
    expect(ls.stdout).toMatch(
      new RegExp(
        `docker\\.io/library/sample:oci\\s+application/vnd\\.oci\\.image\\.manifest\\.v1\\+json\\s+${img.manifest.digest}\\s+[\\d.]+ \\w+\\s+linux/amd64`,
      ),
    );
    expect(ls.stdout).toMatch(
      /docker\.io\/sample\/docker:latest\s+application\/vnd\.docker\.distribution\.manifest\.v2\+json/,
    );
    // Every recorded blob has the digest of its bytes (a shared layer written twice is recorded once).
    const content = (await d.ctr(["content", "ls", "-q"])).stdout.trim().split("\n");
    expect(content).not.toContain("sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    for (const b of img.blobs) expect(content).toContain(b.digest);
  });

  test("check says complete; tag and label", async () => {
    const check = await d.ctr(["images", "check", "name==docker.io/library/sample:oci"]);
    expect(check.stdout).toMatch(/complete \(3\/3\)/);
    expect(
      (await d.ctr(["images", "tag", "docker.io/library/sample:oci", "docker.io/library/sample:v2"])).code,
    ).toBe(0);
    const dup = await d.ctr(["images", "tag", "docker.io/library/sample:oci", "docker.io/library/sample:v2"]);
    expect(dup.stderr).toContain('image "docker.io/library/sample:v2": already exists');
    expect((await d.ctr(["images", "label", "docker.io/library/sample:v2", "tier=gold"])).stdout.trim()).toBe(
      "tier=gold",
    );
    const q = await d.ctr(["images", "ls", "-q", "labels.tier==gold"]);
    expect(q.stdout.trim()).toBe("docker.io/library/sample:v2");
  });

  test("images are per namespace", async () => {
    expect((await d.ctr(["-n", "elsewhere", "images", "ls", "-q"])).stdout.trim()).toBe("");
    expect((await d.ctr(["-n", "elsewhere", "content", "ls", "-q"])).stdout.trim()).toBe("");
  });

  test("rm --sync of every image leaves no blob behind", async () => {
    expect(blobsOnDisk().length).toBeGreaterThan(0);
    const names = (await d.ctr(["images", "ls", "-q"])).stdout.trim().split("\n");
    const r = await d.ctr(["images", "rm", "--sync", ...names]);
    expect(r.code).toBe(0);
    expect((await d.ctr(["images", "ls", "-q"])).stdout.trim()).toBe("");
    expect((await d.ctr(["content", "ls", "-q"])).stdout.trim()).toBe("");
    expect(blobsOnDisk()).toEqual([]);
  });
});
