/** Manifests and indexes: untrusted JSON from a registry becomes typed values here, with a
 *  clear error naming the field, and schema 1 is refused. Children and platform selection
 *  follow containerd's images package (Children, FilterPlatforms, LimitManifests). */

import { invalidArgument, notFound, notImplemented } from "@bunkerd/plugin-api";
import { validateDigest } from "./digest.ts";
import {
  isConfigType,
  isIndexType,
  isLayerType,
  isManifestType,
  isSchema1Type,
  MediaType,
} from "./media-types.ts";
import type { PlatformMatcher } from "./platforms/matcher.ts";
import type { Platform } from "./platforms/platform.ts";

export type Descriptor = {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  urls?: string[];
  platform?: Platform;
  artifactType?: string;
};

export type ImageManifest = {
  kind: "manifest";
  mediaType: string;
  schemaVersion: number;
  config: Descriptor;
  layers: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
};

export type ImageIndex = {
  kind: "index";
  mediaType: string;
  schemaVersion: number;
  manifests: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
};

export const SCHEMA1_REFUSED = "schema 1 manifests are not supported";

/** The error for a schema 1 manifest: refused, as containerd 2 does, instead of converted. */
export const schema1Refused = (subject: string) =>
  notImplemented(
    `${subject}: ${SCHEMA1_REFUSED} (media type ${MediaType.DockerSchema1Manifest}); push the image again with a current client`,
  );

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);

function stringMap(v: unknown, field: string): Record<string, string> | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isObject(v)) throw invalidArgument(`${field}: must be an object of strings`);
  for (const [k, s] of Object.entries(v)) {
    if (typeof s !== "string") throw invalidArgument(`${field}[${JSON.stringify(k)}]: must be a string`);
  }
  return v as Record<string, string>;
}

function parsePlatform(v: unknown, field: string): Platform | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isObject(v)) throw invalidArgument(`${field}: must be an object`);
  const { architecture, os, variant } = v;
  if (typeof architecture !== "string") throw invalidArgument(`${field}.architecture: must be a string`);
  if (typeof os !== "string") throw invalidArgument(`${field}.os: must be a string`);
  const p: Platform = { architecture, os };
  if (typeof variant === "string" && variant !== "") p.variant = variant;
  if (typeof v["os.version"] === "string") p["os.version"] = v["os.version"];
  if (Array.isArray(v["os.features"]))
    p["os.features"] = v["os.features"].filter((f) => typeof f === "string");
  return p;
}

/** One descriptor out of untrusted JSON. */
export function parseDescriptor(v: unknown, field: string): Descriptor {
  if (!isObject(v)) throw invalidArgument(`${field}: must be a descriptor object`);
  const { mediaType, digest, size } = v;
  if (typeof mediaType !== "string" || mediaType === "")
    throw invalidArgument(`${field}.mediaType: must be a string`);
  if (typeof digest !== "string") throw invalidArgument(`${field}.digest: must be a string`);
  validateDigest(digest, `${field}.digest`);
  if (typeof size !== "number" || !Number.isSafeInteger(size) || size < 0) {
    throw invalidArgument(`${field}.size: must be a non-negative integer`);
  }
  const d: Descriptor = { mediaType, digest, size };
  const annotations = stringMap(v.annotations, `${field}.annotations`);
  if (annotations) d.annotations = annotations;
  if (v.urls !== undefined && v.urls !== null) {
    if (!Array.isArray(v.urls) || v.urls.some((u) => typeof u !== "string")) {
      throw invalidArgument(`${field}.urls: must be a list of strings`);
    }
    d.urls = v.urls as string[];
  }
  const platform = parsePlatform(v.platform, `${field}.platform`);
  if (platform) d.platform = platform;
  if (typeof v.artifactType === "string") d.artifactType = v.artifactType;
  return d;
}

function descriptorList(v: unknown, field: string): Descriptor[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw invalidArgument(`${field}: must be a list of descriptors`);
  return v.map((d, i) => parseDescriptor(d, `${field}[${i}]`));
}

const decoder = new TextDecoder("utf-8", { fatal: true });

/** Parses a manifest or index of the given media type (the descriptor's, or the registry's
 *  Content-Type). The document must agree with it, as containerd's validateMediaType checks:
 *  an index served as a manifest, or the reverse, is refused. */
export function parseManifest(bytes: Uint8Array | string, mediaType: string): ImageManifest | ImageIndex {
  const subject = `manifest (${mediaType})`;
  if (isSchema1Type(mediaType)) throw schema1Refused(subject);
  let doc: unknown;
  try {
    doc = JSON.parse(typeof bytes === "string" ? bytes : decoder.decode(bytes));
  } catch (e) {
    throw invalidArgument(`${subject}: not valid JSON: ${(e as Error).message}`);
  }
  if (!isObject(doc)) throw invalidArgument(`${subject}: must be a JSON object`);
  if (doc.schemaVersion === 1 || Array.isArray(doc.fsLayers)) throw schema1Refused(subject);
  const declared = typeof doc.mediaType === "string" ? doc.mediaType : undefined;
  if (declared !== undefined && isSchema1Type(declared)) throw schema1Refused(subject);
  if (doc.schemaVersion !== 2) throw invalidArgument(`${subject}.schemaVersion: must be 2`);
  const looksLikeIndex = Array.isArray(doc.manifests) || (declared !== undefined && isIndexType(declared));
  const looksLikeManifest =
    doc.config !== undefined ||
    doc.layers !== undefined ||
    (declared !== undefined && isManifestType(declared));
  const annotations = stringMap(doc.annotations, `${subject}.annotations`);
  const subjectDesc =
    doc.subject === undefined ? undefined : parseDescriptor(doc.subject, `${subject}.subject`);
  const extras = {
    ...(annotations ? { annotations } : {}),
    ...(subjectDesc ? { subject: subjectDesc } : {}),
  };
  if (isManifestType(mediaType)) {
    if (looksLikeIndex) throw invalidArgument(`${subject}: expected manifest but found index`);
    return {
      kind: "manifest",
      mediaType,
      schemaVersion: 2,
      config: parseDescriptor(doc.config, `${subject}.config`),
      layers: descriptorList(doc.layers, `${subject}.layers`),
      ...extras,
    };
  }
  if (isIndexType(mediaType)) {
    if (looksLikeManifest) throw invalidArgument(`${subject}: expected index but found manifest`);
    return {
      kind: "index",
      mediaType,
      schemaVersion: 2,
      manifests: descriptorList(doc.manifests, `${subject}.manifests`),
      ...extras,
    };
  }
  throw invalidArgument(`${subject}: unsupported manifest media type ${JSON.stringify(mediaType)}`);
}

/** The immediate children of a descriptor, given its bytes: config then layers for a manifest,
 *  the entries of an index, nothing for layers, configs and unknown types. */
export function children(desc: Descriptor, bytes: Uint8Array | string): Descriptor[] {
  if (isManifestType(desc.mediaType)) {
    const m = parseManifest(bytes, desc.mediaType) as ImageManifest;
    return [m.config, ...m.layers];
  }
  if (isIndexType(desc.mediaType)) return (parseManifest(bytes, desc.mediaType) as ImageIndex).manifests;
  if (isSchema1Type(desc.mediaType)) throw schema1Refused(`manifest ${desc.digest}`);
  if (isLayerType(desc.mediaType) || isConfigType(desc.mediaType)) return [];
  return [];
}

/** The index entries a pull should follow: those whose platform matches (entries without a
 *  platform are kept, as containerd's FilterPlatforms keeps them), best match first; with a
 *  positive `limit`, at most that many, and NotFound when none match (LimitManifests). */
export function selectManifests(
  index: ImageIndex | readonly Descriptor[],
  matcher: PlatformMatcher,
  limit = 0,
): Descriptor[] {
  const entries = Array.isArray(index) ? index : (index as ImageIndex).manifests;
  const kept = entries.filter((d) => d.platform === undefined || matcher.match(d.platform));
  // A stable sort; entries without a platform go last.
  const sorted = kept
    .map((d, i) => ({ d, i }))
    .sort((a, b) => {
      const pa = a.d.platform;
      const pb = b.d.platform;
      if (pa === undefined || pb === undefined) {
        if (pa === pb) return a.i - b.i;
        return pa === undefined ? 1 : -1;
      }
      if (matcher.less(pa, pb)) return -1;
      if (matcher.less(pb, pa)) return 1;
      return a.i - b.i;
    })
    .map(({ d }) => d);
  if (limit > 0) {
    if (sorted.length === 0) throw notFound("no match for platform in manifest");
    return sorted.slice(0, limit);
  }
  return sorted;
}
