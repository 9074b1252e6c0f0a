/** The labels a pull leaves on content, as containerd's client does: children references for
 *  the garbage collector (`images.ChildGCLabels`), the distribution source, the uncompressed
 *  digest of a layer and the snapshot a config was unpacked to. */
import {
  DISTRIBUTION_SOURCE_LABEL,
  type Descriptor,
  isConfigType,
  isLayerType,
  isManifestType,
  parseReference,
} from "@bunkerd/registry";

export const UNCOMPRESSED = "containerd.io/uncompressed";
export const GC_SNAPSHOT = "containerd.io/gc.ref.snapshot.";

function childKey(desc: Descriptor): string {
  if (isConfigType(desc.mediaType)) return "containerd.io/gc.ref.content.config";
  if (isManifestType(desc.mediaType)) return "containerd.io/gc.ref.content.m.";
  if (isLayerType(desc.mediaType)) return "containerd.io/gc.ref.content.l.";
  return "containerd.io/gc.ref.content.";
}

/** `m.0`, `m.1`, `l.0`…; a key without a trailing dot is numbered from its second use. */
export function childrenLabels(children: readonly Descriptor[]): Record<string, string> {
  const labels: Record<string, string> = {};
  const used = new Map<string, number>();
  for (const c of children) {
    let key = childKey(c);
    const i = used.get(key) ?? 0;
    used.set(key, i + 1);
    if (i > 0 || key.endsWith(".")) key = `${key}${i}`;
    labels[key] = c.digest;
  }
  return labels;
}

/** `containerd.io/distribution.source.<host>` → repository, for a resolved name. */
export function distributionSource(name: string): Record<string, string> {
  const { hostname, repository } = parseReference(name);
  const host = hostname.startsWith("[")
    ? hostname.slice(1, hostname.indexOf("]"))
    : hostname.replace(/:\d+$/, "");
  return { [`${DISTRIBUTION_SOURCE_LABEL}.${host}`]: repository };
}

/** The ingest ref a blob is written under (what `content active` shows). */
export function refKey(desc: Descriptor): string {
  const mt = desc.mediaType;
  const kind = isManifestType(mt)
    ? "manifest"
    : mt.includes("index") || mt.includes("manifest.list")
      ? "index"
      : isLayerType(mt)
        ? "layer"
        : isConfigType(mt)
          ? "config"
          : "unknown";
  return `${kind}-${desc.digest}`;
}
