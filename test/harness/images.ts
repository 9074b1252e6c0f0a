/** Test images made from local material: layers are tars of files the test names (packed by
 *  GNU tar, gzipped by zlib), with an OCI config and manifest around them, written out as an
 *  OCI image layout tar or a docker-archive (`docker save`) tar. No registry, no network. */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { gzipSync } from "node:zlib";

export const sha256 = (b: Uint8Array | string) =>
  `sha256:${new Bun.CryptoHasher("sha256").update(b).digest("hex")}`;

export interface Blob {
  mediaType: string;
  digest: string;
  size: number;
  data: Uint8Array;
}

export interface TestImage {
  config: Blob;
  layers: Blob[];
  manifest: Blob;
  /** sha256 of each uncompressed layer tar. */
  diffIds: string[];
  blobs: Blob[];
}

/** A blob of `data` (a string is taken as UTF-8) with its digest and size. */
export const blob = (mediaType: string, data: Uint8Array | string): Blob => {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  return { mediaType, digest: sha256(bytes), size: bytes.length, data: bytes };
};

/** Packs the tree at `dir` with GNU tar: sorted names, root's owner, mtime 0, so the same files
 *  always give the same bytes (and the same layer digests). */
export function tarTree(dir: string): Uint8Array {
  const r = Bun.spawnSync(
    [
      "tar",
      "--sort=name",
      "--owner=0",
      "--group=0",
      "--numeric-owner",
      "--mtime=@0",
      "-C",
      dir,
      "-cf",
      "-",
      ".",
    ],
    { stdout: "pipe", stderr: "pipe" },
  );
  if (r.exitCode !== 0) throw new Error(`tar failed: ${r.stderr}`);
  return new Uint8Array(r.stdout);
}

/** Packs `files` (path → contents) into a tar with GNU tar, deterministic owner and times. */
export function tarOf(files: Record<string, string>): Uint8Array {
  const dir = mkdtempSync("/tmp/layer-");
  try {
    for (const [path, body] of Object.entries(files)) {
      mkdirSync(dirname(join(dir, path)), { recursive: true });
      writeFileSync(join(dir, path), body);
    }
    return tarTree(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** An OCI image of the layer tars (gzipped) and `config`, an image config without its rootfs,
 *  which is filled in from the tars. */
export function imageOf(tars: Uint8Array[], config: object): TestImage {
  const diffIds = tars.map((t) => sha256(t));
  const layers = tars.map((t) =>
    blob("application/vnd.oci.image.layer.v1.tar+gzip", gzipSync(t, { level: 1 })),
  );
  const configBlob = blob(
    "application/vnd.oci.image.config.v1+json",
    JSON.stringify({ ...config, rootfs: { type: "layers", diff_ids: diffIds } }),
  );
  const manifest = blob(
    "application/vnd.oci.image.manifest.v1+json",
    JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: { mediaType: configBlob.mediaType, digest: configBlob.digest, size: configBlob.size },
      layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
    }),
  );
  return { config: configBlob, layers, manifest, diffIds, blobs: [configBlob, ...layers, manifest] };
}

export function buildImage(
  layers: Record<string, string>[],
  opts: { arch?: string; cmd?: string[] } = {},
): TestImage {
  return imageOf(layers.map(tarOf), {
    architecture: opts.arch ?? "amd64",
    os: "linux",
    config: { Cmd: opts.cmd ?? ["/bin/sh"], Env: ["PATH=/usr/bin:/bin"] },
  });
}

/** Writes a directory tree into a tar (GNU tar), returning the tar bytes. */
function tarDir(entries: Record<string, Uint8Array | string>): Uint8Array {
  const dir = mkdtempSync("/tmp/archive-");
  try {
    for (const [path, body] of Object.entries(entries)) {
      mkdirSync(dirname(join(dir, path)), { recursive: true });
      writeFileSync(join(dir, path), body);
    }
    const r = Bun.spawnSync(["tar", "--sort=name", "-C", dir, "-cf", "-", "."], { stdout: "pipe" });
    if (r.exitCode !== 0) throw new Error("tar failed");
    return new Uint8Array(r.stdout);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** An OCI image layout tar whose index names the image `ref` (org.opencontainers.image.ref.name). */
export function ociLayoutTar(img: TestImage, ref: string): Uint8Array {
  const entries: Record<string, Uint8Array | string> = {
    "oci-layout": JSON.stringify({ imageLayoutVersion: "1.0.0" }),
    "index.json": JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.index.v1+json",
      manifests: [
        {
          mediaType: img.manifest.mediaType,
          digest: img.manifest.digest,
          size: img.manifest.size,
          platform: { architecture: "amd64", os: "linux" },
          annotations: { "org.opencontainers.image.ref.name": ref, "io.containerd.image.name": ref },
        },
      ],
    }),
  };
  for (const b of img.blobs) entries[`blobs/sha256/${b.digest.slice(7)}`] = b.data;
  return tarDir(entries);
}

/** A `docker save` archive: manifest.json, the config as <hex>.json, layers as <hex>/layer.tar. */
export function dockerArchiveTar(img: TestImage, repoTag: string): Uint8Array {
  const entries: Record<string, Uint8Array | string> = {};
  const configName = `${img.config.digest.slice(7)}.json`;
  entries[configName] = img.config.data;
  const layerNames = img.layers.map((l, i) => {
    const name = `${img.diffIds[i]!.slice(7)}/layer.tar`;
    entries[name] = l.data; // docker save stores layers uncompressed; gzip inside is accepted by containerd
    return name;
  });
  entries["manifest.json"] = JSON.stringify([
    { Config: configName, RepoTags: [repoTag], Layers: layerNames },
  ]);
  return tarDir(entries);
}
