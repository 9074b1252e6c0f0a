/** `bctr images convert` and `bctr snapshots unpack` against bunkerd and containerd 1.6, beside
 *  Go ctr on the same daemon: a Docker-format two-platform image (manifest list, pulled with
 *  --all-platforms) converted with --oci, --uncompress, --platform and --all-platforms gives the
 *  same new target digest as Go ctr's convert (byte-identical manifests and index), and a
 *  second run the same again; the result is complete for `images check`; `snapshots unpack`
 *  of the converted manifest unpacks it (the chain ID appears), and an unknown digest fails
 *  with Go ctr's "manifest not found". */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createResolver, MediaType } from "@bunkerd/registry";
import { buildImage, buildIndex, type TestImage } from "../../packages/registry/src/testutil/image.ts";
import {
  canRunRegistry,
  startRegistry,
  type TestRegistry,
} from "../../packages/registry/src/testutil/registry.ts";
import { pushImage } from "../../packages/registry/src/testutil/roundtrip.ts";
import { type DaemonHandle, hasBinary, startDaemon } from "../harness/daemon.ts";
import { bctrAt, KINDS, ok } from "./harness.ts";

const ready = canRunRegistry() && hasBinary("ctr") && hasBinary("containerd");

let registry: TestRegistry;
let ref: string;
const images: TestImage[] = [];

beforeAll(async () => {
  if (!ready) return;
  registry = await startRegistry();
  ref = `${registry.host}/convert/multi:v1`;
  const resolver = createResolver({ plainHttp: true });
  for (const architecture of ["amd64", "arm64"]) {
    const image = buildImage({
      format: "docker",
      platform: { os: "linux", architecture },
      files: [
        { "etc/arch": `${architecture}\n` },
        { "opt/data.bin": crypto.getRandomValues(new Uint8Array(50_000)) },
      ],
    });
    images.push(image);
    await pushImage(resolver, `${registry.host}/convert/multi:${architecture}`, image);
  }
  const index = buildIndex(images, "docker");
  await resolver.pusher(ref).pushManifest("v1", index.desc, index.bytes);
}, 60_000);
afterAll(async () => {
  await registry?.stop();
});

for (const kind of KINDS) {
  describe.skipIf(!ready)(`bctr images convert against ${kind}`, () => {
    let d: DaemonHandle;
    let bctr: ReturnType<typeof bctrAt>;
    beforeAll(async () => {
      d = await startDaemon(kind);
      bctr = bctrAt(d);
      ok(await d.ctr(["images", "pull", "--plain-http", "--all-platforms", ref]));
    }, 60_000);
    afterAll(async () => {
      await d?.stop();
    });

    const manifestOf = async (digest: string) => JSON.parse(ok(await d.ctr(["content", "get", digest])));

    for (const [name, flags] of [
      ["--oci (host platform)", ["--oci"]],
      ["--uncompress", ["--uncompress"]],
      ["--oci --all-platforms", ["--oci", "--all-platforms"]],
      ["--uncompress --oci --platform linux/arm64", ["--uncompress", "--oci", "--platform", "linux/arm64"]],
    ] as [string, string[]][]) {
      test(`${name}: the same target digest as Go ctr's, complete, stable`, async () => {
        const tag = name.replace(/[^a-z0-9]+/g, "-");
        const mine = ok(await bctr(["images", "convert", ...flags, ref, `bctr/${tag}:1`])).trim();
        const theirs = ok(await d.ctr(["images", "convert", ...flags, ref, `goctr/${tag}:1`])).trim();
        expect(mine).toMatch(/^sha256:[0-9a-f]{64}$/);
        expect(mine).toBe(theirs);
        // Once more: everything exists already, same answer.
        expect(ok(await bctr(["images", "convert", ...flags, ref, `bctr/${tag}:1`])).trim()).toBe(mine);
        // `images check` looks at the host's platform: an arm64-only image has none.
        if (!flags.includes("linux/arm64")) {
          const check = ok(await d.ctr(["images", "check", `name==bctr/${tag}:1`]));
          expect(check).toContain("complete");
        }
        const top = await manifestOf(mine);
        if (flags.includes("--oci")) expect(top.mediaType).toMatch(/^application\/vnd\.oci\./);
      });
    }

    test("--uncompress: the layers are the config's diff IDs, uncompressed media types", async () => {
      const digest = ok(
        await bctr(["images", "convert", "--uncompress", "--platform", "linux/amd64", ref, "bctr/plain:1"]),
      ).trim();
      let m = await manifestOf(digest);
      if (m.manifests) m = await manifestOf(m.manifests[0].digest);
      const config = await manifestOf(m.config.digest);
      expect(m.layers.map((l: { digest: string }) => l.digest)).toEqual(config.rootfs.diff_ids);
      expect(m.layers.map((l: { mediaType: string }) => l.mediaType)).toEqual([
        MediaType.DockerLayer,
        MediaType.DockerLayer,
      ]);
    });

    test("snapshots unpack: the converted manifest unpacks; an unknown digest fails as in Go ctr", async () => {
      const digest = ok(
        await bctr(["images", "convert", "--oci", "--platform", "linux/amd64", ref, "bctr/unpack:1"]),
      ).trim();
      const out = ok(await bctr(["snapshots", "unpack", digest]));
      expect(out).toMatch(
        new RegExp(
          `^unpacking ${digest} \\(application/vnd\\.oci\\.image\\.index\\.v1\\+json\\)\\.\\.\\.done\\n$`,
        ),
      );
      const snaps = ok(await d.ctr(["snapshots", "ls"]));
      expect(snaps.split("\n").filter((l) => l.startsWith("sha256:")).length).toBeGreaterThanOrEqual(2);
      const missing = `sha256:${"0".repeat(64)}`;
      const r = await bctr(["snapshots", "unpack", missing]);
      const g = await d.ctr(["snapshots", "unpack", missing]);
      expect([r.code, r.stderr.trim()]).toEqual([1, "bctr: manifest not found"]);
      expect(g.stderr.trim()).toBe("ctr: manifest not found");
    });

    test("bad input: missing target, missing image", async () => {
      const r1 = await bctr(["images", "convert", "--oci", ref]);
      expect([r1.code, r1.stderr.trim()]).toEqual([1, "bctr: src and target image need to be specified"]);
      const r2 = await bctr(["images", "convert", "--oci", "no/such:image", "x/y:1"]);
      expect(r2.code).toBe(1);
      expect(r2.stderr.trim()).toBe('bctr: image "no/such:image": not found');
    });
  });
}
