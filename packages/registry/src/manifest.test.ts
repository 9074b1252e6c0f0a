/** Manifest parsing (typed values or a clear error), schema 1 refusal, children and platform
 *  selection from an index. */

import { describe, expect, test } from "bun:test";
import { Kind } from "@bunkerd/plugin-api";
import { children, type Descriptor, type ImageIndex, parseManifest, selectManifests } from "./manifest.ts";
import { MediaType } from "./media-types.ts";
import { all, only, ordered } from "./platforms/index.ts";

const d = (
  c: string,
  mediaType: string = MediaType.OciLayerGzip,
  extra: Partial<Descriptor> = {},
): Descriptor => ({
  mediaType,
  digest: `sha256:${c.repeat(64)}`,
  size: 10,
  ...extra,
});

const manifest = {
  schemaVersion: 2,
  mediaType: MediaType.OciManifest,
  config: d("c", MediaType.OciConfig),
  layers: [d("1"), d("2")],
  annotations: { "org.opencontainers.image.title": "x" },
};

const plat = (architecture: string, variant?: string) =>
  variant ? { os: "linux", architecture, variant } : { os: "linux", architecture };

const index = {
  schemaVersion: 2,
  mediaType: MediaType.OciIndex,
  manifests: [
    d("a", MediaType.OciManifest, { platform: plat("amd64") }),
    d("b", MediaType.OciManifest, { platform: plat("arm", "v6") }),
    d("e", MediaType.OciManifest, { platform: plat("arm64", "v8") }),
    d("f", MediaType.OciManifest, { platform: plat("arm", "v7") }),
    d("0", MediaType.OciManifest),
  ],
};

describe("parseManifest", () => {
  test("an OCI manifest becomes typed values", () => {
    const m = parseManifest(JSON.stringify(manifest), MediaType.OciManifest);
    expect(m.kind).toBe("manifest");
    if (m.kind !== "manifest") return;
    expect(m.config.mediaType).toBe(MediaType.OciConfig);
    expect(m.layers.map((l) => l.digest[7])).toEqual(["1", "2"]);
    expect(m.annotations).toEqual({ "org.opencontainers.image.title": "x" });
  });

  test("a docker manifest list", () => {
    const bytes = new TextEncoder().encode(
      JSON.stringify({ ...index, mediaType: MediaType.DockerManifestList }),
    );
    const m = parseManifest(bytes, MediaType.DockerManifestList);
    expect(m.kind).toBe("index");
    expect((m as ImageIndex).manifests[2]!.platform).toEqual(plat("arm64", "v8"));
  });

  test.each([
    [MediaType.DockerSchema1Manifest, { schemaVersion: 1, name: "x", fsLayers: [] }],
    [MediaType.DockerSchema1ManifestUnsigned, { schemaVersion: 1, name: "x", fsLayers: [] }],
    // Served under a schema 2 type, the body still gives it away.
    [MediaType.DockerManifest, { schemaVersion: 1, name: "x", fsLayers: [{ blobSum: "sha256:x" }] }],
  ])("schema 1 (%s) is refused with a clear error", (mt, doc) => {
    let err: unknown;
    try {
      parseManifest(JSON.stringify(doc), mt);
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ kind: Kind.NotImplemented });
    expect(String(err)).toContain("schema 1 manifests are not supported");
  });

  test.each([
    ["not json", MediaType.OciManifest, "{", "not valid JSON"],
    [
      "an index served as a manifest",
      MediaType.OciManifest,
      JSON.stringify(index),
      "expected manifest but found index",
    ],
    [
      "a manifest served as an index",
      MediaType.OciIndex,
      JSON.stringify(manifest),
      "expected index but found manifest",
    ],
    [
      "a bad layer digest",
      MediaType.OciManifest,
      JSON.stringify({ ...manifest, layers: [{ ...d("1"), digest: "sha256:xyz" }] }),
      "layers[0].digest",
    ],
    [
      "a negative size",
      MediaType.OciManifest,
      JSON.stringify({ ...manifest, config: { ...d("c"), size: -1 } }),
      "config.size: must be a non-negative integer",
    ],
    [
      "a missing config",
      MediaType.OciManifest,
      JSON.stringify({ schemaVersion: 2, layers: [] }),
      "config: must be a descriptor",
    ],
    [
      "schemaVersion 3",
      MediaType.OciManifest,
      JSON.stringify({ ...manifest, schemaVersion: 3 }),
      "schemaVersion: must be 2",
    ],
    [
      "an unknown media type",
      "application/json",
      JSON.stringify(manifest),
      "unsupported manifest media type",
    ],
  ])("refuses %s", (_what, mt, body, message) => {
    expect(() => parseManifest(body, mt)).toThrow(message);
  });
});

describe("children", () => {
  test("a manifest's children are its config then its layers", () => {
    const kids = children(d("m", MediaType.OciManifest), JSON.stringify(manifest));
    expect(kids.map((k) => k.mediaType)).toEqual([
      MediaType.OciConfig,
      MediaType.OciLayerGzip,
      MediaType.OciLayerGzip,
    ]);
  });
  test("an index's children are its entries; layers and configs have none", () => {
    expect(children(d("i", MediaType.OciIndex), JSON.stringify(index))).toHaveLength(5);
    expect(children(d("l"), "")).toEqual([]);
    expect(children(d("c", MediaType.DockerConfig), "")).toEqual([]);
  });
});

describe("selectManifests", () => {
  const idx = parseManifest(JSON.stringify(index), MediaType.OciIndex) as ImageIndex;
  const letters = (ds: Descriptor[]) => ds.map((x) => x.digest[7]).join("");

  test("only the matching platform, plus entries without a platform (kept last)", () => {
    expect(letters(selectManifests(idx, ordered({ os: "linux", architecture: "amd64" })))).toBe("a0");
  });
  test("arm64 host: arm64 first, then arm/v7, then arm/v6", () => {
    expect(letters(selectManifests(idx, only({ os: "linux", architecture: "arm64" })))).toBe("efb0");
  });
  test("a limit keeps the best match", () => {
    expect(letters(selectManifests(idx, only({ os: "linux", architecture: "arm", variant: "v7" }), 1))).toBe(
      "f",
    );
  });
  test("all platforms keeps everything in index order", () => {
    expect(letters(selectManifests(idx, all))).toBe("abef0");
  });
  test("no match with a limit is NotFound", () => {
    const noPlatformless = { ...idx, manifests: idx.manifests.filter((m) => m.platform) };
    expect(() => selectManifests(noPlatformless, ordered({ os: "linux", architecture: "s390x" }), 1)).toThrow(
      "no match for platform in manifest",
    );
  });
});
