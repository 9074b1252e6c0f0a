/** Descriptors, manifests and indexes serialised as Go's encoding/json writes containerd's
 *  structs (field order of ocispec, map keys sorted, empty optionals left out), so a manifest
 *  or index made here has the digest containerd would give the same content. */
import type { Descriptor, Platform } from "@bunkerd/registry";

type Json = Record<string, unknown>;

const sorted = (m: Record<string, string>): Record<string, string> =>
  Object.fromEntries(
    Object.keys(m)
      .sort()
      .map((k) => [k, m[k]!]),
  );

function platformJson(p: Platform): Json {
  const out: Json = { architecture: p.architecture, os: p.os };
  if (p["os.version"]) out["os.version"] = p["os.version"];
  if (p["os.features"]?.length) out["os.features"] = p["os.features"];
  if (p.variant) out.variant = p.variant;
  return out;
}

export function descriptorJson(d: Descriptor): Json {
  const out: Json = { mediaType: d.mediaType, digest: d.digest, size: d.size };
  if (d.urls?.length) out.urls = d.urls;
  if (d.annotations && Object.keys(d.annotations).length > 0) out.annotations = sorted(d.annotations);
  if (d.platform) out.platform = platformJson(d.platform);
  if (d.artifactType) out.artifactType = d.artifactType;
  return out;
}

const encode = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));

/** An OCI index document (ocispec.Index with no media type, as containerd's archive code writes). */
export const indexBytes = (manifests: Descriptor[]): Uint8Array =>
  encode({ schemaVersion: 2, manifests: manifests.map(descriptorJson) });

/** A Docker schema 2 manifest document (containerd's importer writes this shape). */
export const dockerManifestBytes = (config: Descriptor, layers: Descriptor[]): Uint8Array =>
  encode({
    schemaVersion: 2,
    mediaType: "application/vnd.docker.distribution.manifest.v2+json",
    config: descriptorJson(config),
    layers: layers.map(descriptorJson),
  });
