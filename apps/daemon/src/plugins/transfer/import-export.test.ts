import { afterAll, afterEach, expect, test } from "bun:test";
import { gzipSync } from "node:zlib";
import { MediaType } from "@bunkerd/registry";
import { exportStream } from "./export.ts";
import { importStream } from "./import.ts";
import { TarReader } from "./tar-reader.ts";
import { header, padding, trailer } from "./tar-writer.ts";
import { memoryServices, removeMemoryStores } from "./testkit.ts";
import type { ExportStreamTarget, ImageStoreTarget, ImportStreamSource } from "./types.ts";

afterAll(removeMemoryStores);

const enc = (s: string) => new TextEncoder().encode(s);
const sha = (b: Uint8Array) => `sha256:${new Bun.CryptoHasher("sha256").update(b).digest("hex")}`;

function tar(entries: [string, Uint8Array][]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const [n, b] of entries)
    parts.push(header(n, { size: b.length, mode: 0o644, type: "file" }), b, padding(b.length));
  return Buffer.concat([...parts, trailer()]);
}

/** One uncompressed layer (a tar of one file), its config and manifest. */
function image(layerType: string = MediaType.OciLayerGzip) {
  const layer = tar([["hello", enc(`${crypto.randomUUID()}\n`)]]);
  const config = enc(
    JSON.stringify({
      architecture: "amd64",
      os: "linux",
      rootfs: { type: "layers", diff_ids: [sha(layer)] },
    }),
  );
  const gz = gzipSync(layer);
  const manifest = enc(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      config: { mediaType: MediaType.OciConfig, digest: sha(config), size: config.length },
      layers: [{ mediaType: layerType, digest: sha(gz), size: gz.length }],
    }),
  );
  return { layer, gz, config, manifest };
}

function layout(img: ReturnType<typeof image>, o: { name?: string; manifestSize?: number } = {}) {
  const index = enc(
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        {
          mediaType: MediaType.OciManifest,
          digest: sha(img.manifest),
          size: o.manifestSize ?? img.manifest.length,
          platform: { architecture: "amd64", os: "linux" },
          annotations: { "org.opencontainers.image.ref.name": o.name ?? "v1" },
        },
      ],
    }),
  );
  const blobs = [img.gz, img.config, img.manifest].map(
    (b) => [`blobs/sha256/${sha(b).slice(7)}`, b] as [string, Uint8Array],
  );
  return tar([["oci-layout", enc('{"imageLayoutVersion":"1.0.0"}')], ["index.json", index], ...blobs]);
}

async function* chunked(b: Uint8Array, n = 1000) {
  for (let i = 0; i < b.length; i += n) yield b.slice(i, i + n);
}

const src = (bytes: Uint8Array, forceCompress = false): ImportStreamSource => ({
  kind: "import-stream",
  stream: "s",
  mediaType: "",
  forceCompress,
  bytes: chunked(bytes),
});
const dest = (o: Partial<ImageStoreTarget> = {}): ImageStoreTarget => ({
  kind: "image-store",
  name: "",
  labels: {},
  platforms: [{ os: "linux", architecture: "amd64" }],
  allMetadata: false,
  manifestLimit: 0,
  extraReferences: [
    { name: "ex/app", isPrefix: true, allowOverwrite: true, addDigest: false, skipNamedDigest: false },
  ],
  unpacks: [{ platform: { os: "linux", architecture: "amd64" }, snapshotter: "" }],
  ...o,
});
const opts = () => ({ ns: "default", signal: new AbortController().signal, progress: () => {} });

let s = memoryServices();
afterEach(() => {
  s.dispose();
  s = memoryServices();
});

test("an OCI layout imports: names through the prefix, children labelled, layer unpacked, lease dropped", async () => {
  const img = image();
  await importStream(s, src(layout(img)), dest({ name: "idx:1" }), opts());
  expect([...s.images.images.keys()].sort()).toEqual(["default/ex/app:v1", "default/idx:1"]);
  expect(s.images.images.get("default/ex/app:v1")!.target.digest).toBe(sha(img.manifest));
  const labels = await s.content.info("default", sha(img.manifest));
  expect(labels.labels["containerd.io/gc.ref.content.config"]).toBe(sha(img.config));
  expect(s.differ.applied).toEqual([sha(img.gz)]);
  expect(s.snapshots.calls.some((c) => c.startsWith("commit"))).toBe(true);
  expect(s.leases.live.size).toBe(0);
});

test("a blob size that differs from its descriptor records no image", async () => {
  const img = image();
  const err = await importStream(
    s,
    src(layout(img, { manifestSize: img.manifest.length + 1 })),
    dest(),
    opts(),
  ).catch((e) => e);
  expect(err.message).toContain(`blob ${sha(img.manifest)}: the archive has ${img.manifest.length} bytes`);
  expect(s.images.images.size).toBe(0);
  expect(s.leases.deleted.length).toBe(1);
});

test("a docker-archive becomes a Docker manifest; force_compress gzips the layer, labelled", async () => {
  const img = image();
  const cfg = `${sha(img.config).slice(7)}.json`;
  const archive = tar([
    [cfg, img.config],
    ["abc/layer.tar", img.layer],
    ["abc/VERSION", enc("1.0")],
    ["manifest.json", enc(JSON.stringify([{ Config: cfg, RepoTags: ["app:2"], Layers: ["abc/layer.tar"] }]))],
  ]);
  await importStream(s, src(archive, true), dest({ unpacks: [] }), opts());
  const image_ = s.images.images.get("default/docker.io/library/app:2")!;
  expect(image_.target.mediaType).toBe(MediaType.DockerManifest);
  expect(image_.target.annotations).toEqual({
    "io.containerd.image.name": "docker.io/library/app:2",
    "org.opencontainers.image.ref.name": "2",
  });
  const { path } = await s.content.blobPath("default", image_.target.digest);
  const m = await Bun.file(path).json();
  expect(Object.keys(m)).toEqual(["schemaVersion", "mediaType", "config", "layers"]);
  expect(m.config).toEqual({
    mediaType: MediaType.DockerConfig,
    digest: sha(img.config),
    size: img.config.length,
  });
  expect(m.layers[0].mediaType).toBe(MediaType.DockerLayerGzip);
  const info = await s.content.info("default", m.layers[0].digest);
  expect(info.labels["containerd.io/uncompressed"]).toBe(sha(img.layer));
});

async function exportNames(o: Partial<ExportStreamTarget> = {}) {
  const out: Uint8Array[] = [];
  const target: ExportStreamTarget = {
    kind: "export-stream",
    stream: "e",
    mediaType: "",
    platforms: [],
    allPlatforms: false,
    skipCompatibilityManifest: false,
    skipNonDistributable: false,
    sink: { write: async (b) => void out.push(b.slice()) },
    ...o,
  };
  const services = {
    ...s,
    images: { get: async (ns: string, name: string) => ({ ...s.images.images.get(`${ns}/${name}`)! }) },
  };
  await exportStream(
    services,
    dest({ name: "docker.io/library/app:3", extraReferences: [] }),
    target,
    opts(),
  );
  const r = new TarReader(chunked(Buffer.concat(out)));
  const names: string[] = [];
  for (let e = await r.next(); e; e = await r.next()) names.push(e.name);
  return names;
}

test("skip_non_distributable leaves such layers out; skip_compatibility_manifest leaves out manifest.json", async () => {
  const img = image(MediaType.OciLayerNonDistributableGzip);
  await importStream(s, src(layout(img, { name: "docker.io/library/app:3" })), dest({ unpacks: [] }), opts());
  const layer = `blobs/sha256/${sha(img.gz).slice(7)}`;
  expect(await exportNames()).toContain(layer);
  const skipped = await exportNames({ skipNonDistributable: true, skipCompatibilityManifest: true });
  expect(skipped).not.toContain(layer);
  expect(skipped).not.toContain("manifest.json");
  expect(skipped).toContain(`blobs/sha256/${sha(img.manifest).slice(7)}`);
});

test("export writes a sorted OCI layout with manifest.json, every blob checked", async () => {
  const img = image();
  await importStream(s, src(layout(img, { name: "docker.io/library/app:3" })), dest({ unpacks: [] }), opts());
  const out: Uint8Array[] = [];
  const target: ExportStreamTarget = {
    kind: "export-stream",
    stream: "e",
    mediaType: "",
    platforms: [],
    allPlatforms: false,
    skipCompatibilityManifest: false,
    skipNonDistributable: false,
    sink: { write: async (b) => void out.push(b.slice()) },
  };
  const services = {
    ...s,
    images: { get: async (ns: string, name: string) => ({ ...s.images.images.get(`${ns}/${name}`)! }) },
  };
  await exportStream(
    services,
    dest({ name: "docker.io/library/app:3", extraReferences: [] }),
    target,
    opts(),
  );
  const r = new TarReader(chunked(Buffer.concat(out), 777));
  const names: string[] = [];
  let manifestJson: unknown;
  for (let e = await r.next(); e; e = await r.next()) {
    names.push(e.name);
    if (e.name === "manifest.json")
      manifestJson = JSON.parse(new TextDecoder().decode(await r.readAll(1 << 20)));
  }
  expect(names).toEqual([
    "blobs/",
    "blobs/sha256/",
    ...[img.gz, img.config, img.manifest].map((b) => `blobs/sha256/${sha(b).slice(7)}`).sort(),
    "index.json",
    "manifest.json",
    "oci-layout",
  ]);
  expect(manifestJson).toEqual([
    {
      Config: `blobs/sha256/${sha(img.config).slice(7)}`,
      RepoTags: ["app:3"],
      Layers: [`blobs/sha256/${sha(img.gz).slice(7)}`],
    },
  ]);
});
