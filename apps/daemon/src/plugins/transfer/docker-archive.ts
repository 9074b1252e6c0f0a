/** A `docker save` archive made into an OCI index, as containerd's importer does: for each
 *  manifest.json entry a Docker schema 2 manifest (config from its file, layers typed by their
 *  compression; with force_compress, uncompressed layers gzipped into new blobs labelled with
 *  their uncompressed digest), its platform read from the config, and one index entry per
 *  RepoTag named by `io.containerd.image.name` (normalized) and
 *  `org.opencontainers.image.ref.name` (the tag). */
import { createReadStream, createWriteStream, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";
import { invalidArgument } from "@bunkerd/plugin-api";
import {
  type Descriptor,
  MediaType,
  normalizeReference,
  platforms as P,
  parseReference,
} from "@bunkerd/registry";
import type { ArchiveContents } from "./archive-read.ts";
import type { IngestApi } from "./fetch.ts";
import { Label } from "@bunkerd/registry";
import { dockerManifestBytes, indexBytes } from "./oci-json.ts";
import { writeBlob, writeBytes } from "./write-blob.ts";

export const Annotation = {
  imageName: "io.containerd.image.name",
  refName: "org.opencontainers.image.ref.name",
} as const;

export interface DockerImportDeps {
  ingest: IngestApi;
  content: { blobPath(ns: string, digest: string): Promise<{ path: string; size: number }> };
}

export interface DockerImportOptions {
  ns: string;
  lease?: string;
  forceCompress: boolean;
  signal?: AbortSignal;
}

/** The tag (or digest) of a normalized reference (containerd's ociReferenceName). */
export function ociReferenceName(name: string): string {
  try {
    return parseReference(name).object || name;
  } catch {
    return name;
  }
}

type Compression = "none" | "gzip" | "zstd";

async function compressionOf(path: string): Promise<Compression> {
  const head = await Bun.file(path).slice(0, 4).bytes();
  if (head[0] === 0x1f && head[1] === 0x8b) return "gzip";
  if (head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) return "zstd";
  return "none";
}

/** Writes the index (and its manifests) for the archive's manifest.json; answers its descriptor. */
export async function dockerIndex(
  d: DockerImportDeps,
  contents: ArchiveContents,
  o: DockerImportOptions,
): Promise<Descriptor> {
  const entries: Descriptor[] = [];
  const layerCache = new Map<string, Descriptor>();
  for (const m of contents.dockerManifests ?? []) {
    const cfg = contents.files.get(m.Config);
    if (!cfg) throw invalidArgument(`image config "${m.Config}" not found`);
    const config: Descriptor = { mediaType: MediaType.DockerConfig, digest: cfg.digest, size: cfg.size };
    const layers: Descriptor[] = [];
    for (const name of m.Layers) {
      const f = contents.files.get(name);
      if (!f) throw invalidArgument(`failed to resolve layers: layer "${name}" not found`);
      let layer = layerCache.get(f.digest);
      if (!layer) {
        layer = await resolveLayer(d, f, o);
        layerCache.set(f.digest, layer);
      }
      layers.push(layer);
    }
    const bytes = dockerManifestBytes(config, layers);
    const digest = await writeBytes(d.ingest, bytes, {
      ns: o.ns,
      lease: o.lease,
      ref: `manifest-sha256:${new Bun.CryptoHasher("sha256").update(bytes).digest("hex")}`,
      signal: o.signal,
    });
    const desc: Descriptor = { mediaType: MediaType.DockerManifest, digest, size: bytes.length };
    const platform = await configPlatform(d, o.ns, config);
    if (platform) desc.platform = platform;
    if (m.RepoTags.length === 0) entries.push(desc);
    for (const tag of m.RepoTags) {
      let normalized: string;
      try {
        normalized = normalizeReference(tag);
      } catch (e) {
        throw invalidArgument(`normalize image ref "${tag}": ${(e as Error).message}`);
      }
      entries.push({
        ...desc,
        annotations: {
          [Annotation.imageName]: normalized,
          [Annotation.refName]: ociReferenceName(normalized),
        },
      });
    }
  }
  const bytes = indexBytes(entries);
  const digest = await writeBytes(d.ingest, bytes, {
    ns: o.ns,
    lease: o.lease,
    ref: `index-sha256:${new Bun.CryptoHasher("sha256").update(bytes).digest("hex")}`,
    signal: o.signal,
  });
  return { mediaType: MediaType.OciIndex, digest, size: bytes.length };
}

async function configPlatform(d: DockerImportDeps, ns: string, config: Descriptor) {
  const { path, size } = await d.content.blobPath(ns, config.digest);
  if (size > 20 * 1024 * 1024) throw invalidArgument(`image config ${config.digest} is too large`);
  let doc: { os?: unknown; architecture?: unknown; variant?: unknown };
  try {
    doc = JSON.parse(await Bun.file(path).text()) ?? {};
  } catch (e) {
    throw invalidArgument(
      `unable to resolve platform: image config ${config.digest}: ${(e as Error).message}`,
    );
  }
  if (typeof doc.os !== "string" || typeof doc.architecture !== "string" || !doc.os) return undefined;
  return P.normalize({
    os: doc.os,
    architecture: doc.architecture,
    ...(typeof doc.variant === "string" && doc.variant ? { variant: doc.variant } : {}),
  });
}

async function resolveLayer(
  d: DockerImportDeps,
  f: { digest: string; size: number },
  o: DockerImportOptions,
): Promise<Descriptor> {
  const { path } = await d.content.blobPath(o.ns, f.digest);
  const c = await compressionOf(path);
  if (c === "gzip") return { mediaType: MediaType.DockerLayerGzip, digest: f.digest, size: f.size };
  if (c === "zstd") return { mediaType: MediaType.DockerLayerZstd, digest: f.digest, size: f.size };
  if (!o.forceCompress) return { mediaType: MediaType.DockerLayer, digest: f.digest, size: f.size };
  // Compressed through a temporary file: the blob's size must be known before it is written.
  const dir = mkdtempSync(join(tmpdir(), "bunkerd-compress-"));
  try {
    const tmp = join(dir, "layer.tar.gz");
    await pipeline(createReadStream(path), createGzip(), createWriteStream(tmp));
    const size = Bun.file(tmp).size;
    const digest = await writeBlob(d.ingest, Bun.file(tmp).stream() as unknown as AsyncIterable<Uint8Array>, {
      ns: o.ns,
      lease: o.lease,
      ref: `compress-blob-sha256-${f.digest.slice(7)}`,
      size,
      labels: { [Label.uncompressed]: f.digest },
      signal: o.signal,
    });
    return { mediaType: MediaType.DockerLayerGzip, digest, size };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
