/** Test images built from local files: ustar layers, gzip, an image config, a manifest (OCI or
 *  docker schema 2), a multi-platform index, and an OCI layout directory skopeo can copy. */

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { digestOf } from "../digest.ts";
import type { Descriptor } from "../manifest.ts";
import { MediaType } from "../media-types.ts";
import type { Platform } from "../platforms/platform.ts";

export type Blob = { desc: Descriptor; bytes: Uint8Array };
export type TestImage = { manifest: Blob; config: Blob; layers: Blob[]; platform: Platform };

const enc = new TextEncoder();

function octal(n: number, width: number): string {
  return `${n.toString(8).padStart(width - 1, "0")}\0`;
}

/** A ustar archive of regular files. */
export function tarOf(files: Record<string, string | Uint8Array>): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const [name, content] of Object.entries(files)) {
    const data = typeof content === "string" ? enc.encode(content) : content;
    const header = new Uint8Array(512);
    const put = (s: string, at: number) => header.set(enc.encode(s), at);
    put(name, 0);
    put(octal(0o644, 8), 100);
    put(octal(0, 8), 108);
    put(octal(0, 8), 116);
    put(octal(data.byteLength, 12), 124);
    put(octal(0, 12), 136);
    put("        ", 148);
    put("0", 156);
    put("ustar\0", 257);
    put("00", 263);
    let sum = 0;
    for (const b of header) sum += b;
    put(`${sum.toString(8).padStart(6, "0")}\0 `, 148);
    parts.push(header, data, new Uint8Array((512 - (data.byteLength % 512)) % 512));
  }
  parts.push(new Uint8Array(1024));
  return Buffer.concat(parts);
}

export const blobOf = (mediaType: string, bytes: Uint8Array, extra: Partial<Descriptor> = {}): Blob => ({
  desc: { mediaType, digest: digestOf(bytes), size: bytes.byteLength, ...extra },
  bytes,
});

const json = (v: unknown) => enc.encode(JSON.stringify(v));

export function buildImage(options: {
  files: Record<string, string | Uint8Array>[];
  platform?: Platform;
  format?: "oci" | "docker";
}): TestImage {
  const platform = options.platform ?? { os: "linux", architecture: "amd64" };
  const oci = (options.format ?? "oci") === "oci";
  const tars = options.files.map(tarOf);
  const layers = tars.map((t) =>
    blobOf(
      oci ? MediaType.OciLayerGzip : MediaType.DockerLayerGzip,
      Bun.gzipSync(t as Uint8Array<ArrayBuffer>),
    ),
  );
  const config = blobOf(
    oci ? MediaType.OciConfig : MediaType.DockerConfig,
    json({
      architecture: platform.architecture,
      os: platform.os,
      ...(platform.variant ? { variant: platform.variant } : {}),
      config: { Cmd: ["/bin/true"] },
      rootfs: { type: "layers", diff_ids: tars.map((t) => digestOf(t)) },
    }),
  );
  const manifestMediaType = oci ? MediaType.OciManifest : MediaType.DockerManifest;
  const manifest = blobOf(
    manifestMediaType,
    json({
      schemaVersion: 2,
      mediaType: manifestMediaType,
      config: config.desc,
      layers: layers.map((l) => l.desc),
    }),
  );
  return { manifest, config, layers, platform };
}

export function buildIndex(images: TestImage[], format: "oci" | "docker" = "oci"): Blob {
  const mediaType = format === "oci" ? MediaType.OciIndex : MediaType.DockerManifestList;
  return blobOf(
    mediaType,
    json({
      schemaVersion: 2,
      mediaType,
      manifests: images.map((i) => ({ ...i.manifest.desc, platform: i.platform })),
    }),
  );
}

export const blobsOf = (image: TestImage): Blob[] => [image.config, ...image.layers, image.manifest];

/** An OCI image layout (`oci:<dir>:<tag>` for skopeo) holding `blobs`, with `root` tagged. */
export function writeOciLayout(dir: string, blobs: Blob[], root: Descriptor, tag: string): void {
  mkdirSync(join(dir, "blobs", "sha256"), { recursive: true });
  writeFileSync(join(dir, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  for (const b of blobs) writeFileSync(join(dir, "blobs", "sha256", b.desc.digest.slice(7)), b.bytes);
  writeFileSync(
    join(dir, "index.json"),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [{ ...root, annotations: { "org.opencontainers.image.ref.name": tag } }],
    }),
  );
}

/** `skopeo copy --all oci:<dir>:<tag> docker://<dest>` over plain http or TLS without checks;
 *  `creds` ("user:secret") log in to the destination. */
export function skopeoCopy(layoutDir: string, tag: string, dest: string, o: { creds?: string } = {}): void {
  const r = Bun.spawnSync(
    [
      "skopeo",
      "copy",
      "--all",
      "--preserve-digests",
      "--quiet",
      "--dest-tls-verify=false",
      ...(o.creds ? [`--dest-creds=${o.creds}`] : []),
      `oci:${layoutDir}:${tag}`,
      `docker://${dest}`,
    ],
    { stdout: "pipe", stderr: "pipe" },
  );
  if (r.exitCode !== 0) throw new Error(`skopeo copy to ${dest}: ${r.stderr.toString()}`);
}

/** Pushes `blobs` with `root` to `dest` (host/repo:tag) by way of a temporary OCI layout. */
export function pushBlobs(dest: string, blobs: Blob[], root: Descriptor, o: { creds?: string } = {}): void {
  const dir = mkdtempSync("/tmp/push-layout-");
  try {
    writeOciLayout(dir, blobs, root, "push");
    skopeoCopy(dir, "push", dest, o);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
