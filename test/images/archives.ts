/** Hand-made image archives for the import, export and push suites: tars written entry by entry
 *  (so names GNU tar refuses, like `../x`, can be made) and a two-platform OCI layout. */
import { header, padding, trailer } from "../../apps/daemon/src/plugins/transfer/tar-writer.ts";
import { sha256, type TestImage } from "../harness/images.ts";

export function rawTar(entries: [string, Uint8Array | string][]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const [name, body] of entries) {
    const b = typeof body === "string" ? new TextEncoder().encode(body) : body;
    parts.push(header(name, { size: b.length, mode: 0o644, type: "file" }), b, padding(b.length));
  }
  parts.push(trailer());
  return Buffer.concat(parts);
}

/** An OCI layout whose index.json names a two-platform index as `ref` (a tag only, as OCI puts it). */
export function multiArchLayout(amd: TestImage, arm: TestImage, tag: string) {
  const inner = JSON.stringify({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.index.v1+json",
    manifests: [
      {
        mediaType: amd.manifest.mediaType,
        digest: amd.manifest.digest,
        size: amd.manifest.size,
        platform: { architecture: "amd64", os: "linux" },
      },
      {
        mediaType: arm.manifest.mediaType,
        digest: arm.manifest.digest,
        size: arm.manifest.size,
        platform: { architecture: "arm64", os: "linux" },
      },
    ],
  });
  const innerDigest = sha256(inner);
  const entries: [string, Uint8Array | string][] = [
    ["oci-layout", JSON.stringify({ imageLayoutVersion: "1.0.0" })],
    [
      "index.json",
      JSON.stringify({
        schemaVersion: 2,
        manifests: [
          {
            mediaType: "application/vnd.oci.image.index.v1+json",
            digest: innerDigest,
            size: inner.length,
            annotations: { "org.opencontainers.image.ref.name": tag },
          },
        ],
      }),
    ],
    [`blobs/sha256/${innerDigest.slice(7)}`, inner],
  ];
  for (const b of [...amd.blobs, ...arm.blobs]) entries.push([`blobs/sha256/${b.digest.slice(7)}`, b.data]);
  return { tar: rawTar(entries), indexDigest: innerDigest };
}
