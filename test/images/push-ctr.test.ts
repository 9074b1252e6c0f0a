/** `ctr images push --plain-http` (Go ctr 1.6: client-side, reading blobs through bunkerd's
 *  Content service) from bunkerd to a local docker-registry, then pulled back into a fresh
 *  bunkerd and into containerd: the same manifest, config and layer digests, and the unpacked
 *  image runs nothing but is checked complete. A multi-platform index is pushed whole. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  canRunRegistry,
  startRegistry,
  type TestRegistry,
} from "../../packages/registry/src/testutil/registry.ts";
import { type DaemonHandle, hasBinary, startDaemon } from "../harness/daemon.ts";
import { buildImage, ociLayoutTar } from "../harness/images.ts";
import { multiArchLayout } from "./archives.ts";

const ready = canRunRegistry() && hasBinary("ctr") && hasBinary("containerd") && hasBinary("skopeo");

describe.skipIf(!ready)("ctr images push from bunkerd", () => {
  let reg: TestRegistry;
  let src: DaemonHandle;
  let dir: string;
  const img = buildImage([{ "etc/pushed": "yes\n" }, { "usr/share/x": "x\n" }]);
  const daemons: DaemonHandle[] = [];

  const lsLine = async (d: DaemonHandle, ref: string) =>
    (await d.ctr(["images", "ls", `name==${ref}`])).stdout.trim().split("\n")[1]?.split(/\s+/).slice(0, 3);

  beforeAll(async () => {
    dir = mkdtempSync("/tmp/push-ctr-");
    reg = await startRegistry();
    src = await startDaemon("bunkerd");
    writeFileSync(join(dir, "img.tar"), ociLayoutTar(img, "docker.io/library/topush:1"));
    const r = await src.ctr(["images", "import", join(dir, "img.tar")]);
    expect(r.code).toBe(0);
  }, 60_000);
  afterAll(async () => {
    for (const d of [src, ...daemons]) await d?.stop();
    await reg?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test("push, then pull into a fresh bunkerd and into containerd: the same digests", async () => {
    const ref = `${reg.host}/pushed/image:v1`;
    expect((await src.ctr(["images", "tag", "docker.io/library/topush:1", ref])).code).toBe(0);
    const push = await src.ctr(["images", "push", "--plain-http", ref]);
    expect(push.code).toBe(0);
    // The registry has the manifest byte for byte, and each blob.
    const raw = Bun.spawnSync(["skopeo", "inspect", "--raw", "--tls-verify=false", `docker://${ref}`]);
    expect(new TextDecoder().decode(raw.stdout)).toBe(new TextDecoder().decode(img.manifest.data));
    for (const b of [img.config, ...img.layers]) {
      const r = await fetch(`${reg.url}/v2/pushed/image/blobs/${b.digest}`, { method: "HEAD" });
      expect([r.status, Number(r.headers.get("content-length"))]).toEqual([200, b.size]);
    }
    const fresh = await startDaemon("bunkerd");
    daemons.push(fresh);
    const cd = await startDaemon("containerd");
    daemons.push(cd);
    for (const d of [fresh, cd]) {
      const pull = await d.ctr(["images", "pull", "--plain-http", ref]);
      expect(pull.code).toBe(0);
      expect(await lsLine(d, ref)).toEqual([ref, img.manifest.mediaType, img.manifest.digest]);
      expect((await d.ctr(["images", "check", `name==${ref}`])).stdout).toMatch(/complete \(3\/3\)/);
      const content = (await d.ctr(["content", "ls", "-q"])).stdout;
      for (const b of img.blobs) expect(content).toContain(b.digest);
    }
    // A second push finds everything there and changes nothing.
    const again = await src.ctr(["images", "push", "--plain-http", ref]);
    expect(again.code).toBe(0);
    const raw2 = Bun.spawnSync(["skopeo", "inspect", "--raw", "--tls-verify=false", `docker://${ref}`]);
    expect(raw2.stdout.toString()).toBe(raw.stdout.toString());
  }, 120_000);

  test("a multi-platform index is pushed whole and pulls back with --all-platforms", async () => {
    const arm = buildImage([{ "etc/arch": "arm64\n" }], { arch: "arm64" });
    const multi = multiArchLayout(img, arm, "v1");
    writeFileSync(join(dir, "multi.tar"), multi.tar);
    const imported = await src.ctr([
      "images",
      "import",
      "--all-platforms",
      "--no-unpack",
      "--base-name",
      "docker.io/library/multi",
      join(dir, "multi.tar"),
    ]);
    expect(imported.code).toBe(0);
    const ref = `${reg.host}/pushed/multi:v1`;
    expect((await src.ctr(["images", "tag", "docker.io/library/multi:v1", ref])).code).toBe(0);
    const digest = multi.indexDigest;
    const push = await src.ctr(["images", "push", "--plain-http", ref]);
    expect(push.stderr).toBe("");
    expect(push.code).toBe(0);
    const cd = daemons.find((d) => d.kind === "containerd")!;
    const pull = await cd.ctr(["-n", "multi", "images", "pull", "--plain-http", "--all-platforms", ref]);
    expect(pull.code).toBe(0);
    expect((await cd.ctr(["-n", "multi", "images", "ls", "-q"])).stdout.trim()).toBe(ref);
    expect((await cd.ctr(["-n", "multi", "images", "ls"])).stdout).toContain(digest);
    const content = (await cd.ctr(["-n", "multi", "content", "ls", "-q"])).stdout;
    for (const b of [...img.blobs, ...arm.blobs]) expect(content).toContain(b.digest);
  }, 120_000);
});
