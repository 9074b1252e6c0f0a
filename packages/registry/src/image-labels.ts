/** The names and labels a pull gives content, as containerd 1.7 does (the daemon's Transfer pull
 *  and bctr's client-side pull both use them):
 *  - ingest refs (`remotes.MakeRefKey`): `<kind>-<digest>`, the ref name annotation before an `@`;
 *  - children refs for the collector (`images.ChildGCLabels` + `SetChildrenMappedLabels`);
 *  - `containerd.io/distribution.source.<host>` (`docker.AppendDistributionSourceLabel`). */
import type { Descriptor } from "./manifest.ts";
import { isConfigType, isIndexType, isLayerType, isManifestType } from "./media-types.ts";
import { DISTRIBUTION_SOURCE_LABEL } from "./push.ts";
import { parseReference } from "./reference.ts";

export const Label = {
  uncompressed: "containerd.io/uncompressed",
  snapshotRef: "containerd.io/snapshot.ref",
  gcExpire: "containerd.io/gc.expire",
  gcSnapshot: "containerd.io/gc.ref.snapshot.",
} as const;

const REF_NAME = "org.opencontainers.image.ref.name";

/** The ingest ref for a descriptor: what `ctr content active` shows during a pull. */
export function refKey(desc: Descriptor): string {
  const name = desc.annotations?.[REF_NAME];
  const key = name ? `${name}@${desc.digest}` : desc.digest;
  const mt = desc.mediaType;
  if (isManifestType(mt)) return `manifest-${key}`;
  if (isIndexType(mt)) return `index-${key}`;
  if (isLayerType(mt)) return `layer-${key}`;
  if (isConfigType(mt)) return `config-${key}`;
  return `unknown-${key}`;
}

/** The label key prefix a child is referenced by (containerd's ChildGCLabels). */
function childLabel(desc: Descriptor): string {
  if (isConfigType(desc.mediaType)) return "containerd.io/gc.ref.content.config";
  if (isManifestType(desc.mediaType)) return "containerd.io/gc.ref.content.m.";
  if (isLayerType(desc.mediaType)) return "containerd.io/gc.ref.content.l.";
  return "containerd.io/gc.ref.content.";
}

/** The labels naming every child of a descriptor, numbered per key as containerd numbers them
 *  (`m.0`, `m.1`, `l.0` …; a key without a trailing dot gets a number from its second use). */
export function childrenLabels(children: readonly Descriptor[]): Record<string, string> {
  const labels: Record<string, string> = {};
  const used = new Map<string, number>();
  for (const child of children) {
    let key = childLabel(child);
    const idx = used.get(key) ?? 0;
    used.set(key, idx + 1);
    if (idx > 0 || key.endsWith(".")) key = `${key}${idx}`;
    labels[key] = child.digest;
  }
  return labels;
}

/** The distribution source label's key and repository for a resolved name: the host without
 *  its port, and the path. */
export function distributionSource(name: string): { key: string; repository: string } {
  const { hostname, repository } = parseReference(name);
  // Go's url.Hostname: no port, no brackets around an IPv6 address.
  const host = hostname.startsWith("[")
    ? hostname.slice(1, hostname.indexOf("]"))
    : hostname.replace(/:\d+$/, "");
  return { key: `${DISTRIBUTION_SOURCE_LABEL}.${host}`, repository };
}

/** The label's value with `repository` added: a sorted, comma-separated set. */
export function appendSource(current: string | undefined, repository: string): string {
  const repos = new Set((current ?? "").split(",").filter((r) => r !== ""));
  repos.add(repository);
  return [...repos].sort().join(",");
}
