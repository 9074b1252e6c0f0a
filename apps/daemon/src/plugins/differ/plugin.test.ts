/** The plugin record and the instance it builds: apply through snapshot mounts with the blob
 *  read from its path, the descriptor it answers, and the errors a caller sees. */
import { afterEach, describe, expect, test } from "bun:test";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { type InitContext, Kind, PluginType } from "@bunkerd/plugin-api";
import type { WalkingDiffer } from "./differ.ts";
import { MediaType } from "./mediatype.ts";
import plugin, { hostPlatform } from "./plugin.ts";
import { buildTar, gzip, isRoot, rm, snapshot, tempDir, writeBlob } from "./testdata/helpers.ts";
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

const sha = (b: Uint8Array) => `sha256:${new Bun.CryptoHasher("sha256").update(b).digest("hex")}`;

async function instance(): Promise<WalkingDiffer> {
  const quiet = { trace() {}, debug() {}, info() {}, warn() {}, error() {} };
  return (await plugin.init({ log: quiet } as unknown as InitContext<unknown>)) as WalkingDiffer;
}

describe("plugin record", () => {
  test("io.containerd.differ.v1.walking in its own worker, for this host's platform", () => {
    expect([plugin.type, plugin.id, plugin.worker]).toEqual([
      PluginType.Differ,
      "walking",
      PluginType.Differ,
    ]);
    expect(plugin.platforms).toEqual([hostPlatform()]);
    expect(hostPlatform("x64")).toEqual({ os: "linux", architecture: "amd64" });
    expect(hostPlatform("arm64")).toEqual({ os: "linux", architecture: "arm64", variant: "v8" });
  });
});

describe.skipIf(!isRoot)("WalkingDiffer.apply", () => {
  test("applies a gzip layer through a bind mount and answers the uncompressed descriptor", async () => {
    base = tempDir("differ-plugin-");
    const snap = join(base, "snap");
    const tmpmounts = join(base, "tmpmounts");
    mkdirSync(snap);
    mkdirSync(tmpmounts);
    const tar = buildTar([{ name: "hello", data: "world" }]);
    const blob = gzip(tar);
    const path = writeBlob(base, "blob", blob);
    const d = await (await instance()).apply(
      { mediaType: MediaType.ImageLayerGzip, digest: sha(blob), size: blob.length },
      [{ type: "bind", source: snap, options: ["rbind", "rw"] }],
      { blobPath: path, tmpMountsDir: tmpmounts },
    );
    expect(d).toEqual({ mediaType: MediaType.ImageLayer, digest: sha(tar), size: tar.length });
    expect(snapshot(snap).get("hello")?.size).toBe(5);
  });

  test("refuses what it cannot apply, with containerd's error kinds", async () => {
    base = tempDir("differ-plugin-");
    const tmpmounts = join(base, "tmpmounts");
    mkdirSync(tmpmounts);
    const blob = gzip(buildTar([{ name: "x", data: "x" }]));
    const path = writeBlob(base, "blob", blob);
    const differ = await instance();
    const mounts = [{ type: "bind", source: base, options: ["rbind", "rw"] }];
    await expect(
      differ.apply(
        { mediaType: "application/vnd.oci.image.config.v1+json", digest: sha(blob), size: blob.length },
        mounts,
        {
          blobPath: path,
          tmpMountsDir: tmpmounts,
        },
      ),
    ).rejects.toMatchObject({ kind: Kind.NotImplemented });
    await expect(
      differ.apply(
        { mediaType: MediaType.ImageLayerGzip, digest: sha(blob), size: blob.length + 1 },
        mounts,
        {
          blobPath: path,
          tmpMountsDir: tmpmounts,
        },
      ),
    ).rejects.toMatchObject({ kind: Kind.FailedPrecondition });
    await expect(
      differ.apply({ mediaType: MediaType.ImageLayerGzip, digest: sha(blob), size: blob.length }, mounts, {
        blobPath: join(base, "missing"),
        tmpMountsDir: tmpmounts,
      }),
    ).rejects.toMatchObject({ code: "ENOENT" });
  });
});
