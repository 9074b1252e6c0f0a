/** Client-side fetch, as Go ctr 1.6 pulls against containerd (which has no Transfer service):
 *  resolve with @bunkerd/registry, then walk the image top-down, writing each blob the store
 *  lacks through Content.Write (64 KiB messages) with containerd's labels (children for the
 *  collector, distribution source). Index entries are filtered by platform and, for one
 *  platform, limited to the best match, as containerd's LimitManifests does. */
import {
  type Descriptor,
  isIndexType,
  isManifestType,
  type PlatformMatcher,
  parseManifest,
  type Resolver,
  selectManifests,
  children as childrenOf,
} from "@bunkerd/registry";
import type { Daemon } from "../cli/client.ts";
import { hasContent, readBlob, setLabels, writeContent } from "./content.ts";
import { childrenLabels, distributionSource, refKey } from "@bunkerd/registry";
import type { ProgressView } from "./progress.ts";

export interface FetchOptions {
  matcher: PlatformMatcher;
  /** Keep one manifest per index (pull for a single platform). */
  limit: number;
  /** Only manifests and configs, no layers (content fetch --metadata-only). */
  metadataOnly?: boolean;
  progress?: ProgressView;
  signal?: AbortSignal;
  /** Concurrent blob downloads. */
  concurrency?: number;
}

export async function fetchImage(
  d: Daemon,
  resolver: Resolver,
  name: string,
  root: Descriptor,
  o: FetchOptions,
): Promise<void> {
  const fetcher = resolver.fetcher(name);
  const { key: sourceKey, repository } = distributionSource(name);
  const source = { [sourceKey]: repository };
  const layers: Descriptor[] = [];

  const handle = async (desc: Descriptor): Promise<void> => {
    const meta = isManifestType(desc.mediaType) || isIndexType(desc.mediaType);
    if (!meta) {
      layers.push(desc);
      return;
    }
    const stored = await hasContent(d, desc.digest);
    o.progress?.update(refKey(desc), stored ? "exists" : "downloading", 0, desc.size);
    const bytes = stored
      ? await readBlob(d, desc.digest)
      : await fetcher.fetchBytes(desc, { signal: o.signal });
    let kids = childrenOf(desc, bytes);
    if (isIndexType(desc.mediaType)) kids = selectManifests(kids, o.matcher, o.limit);
    if (o.metadataOnly && isManifestType(desc.mediaType)) kids = kids.slice(0, 1);
    const labels = { ...childrenLabels(kids), ...source };
    if (stored) await setLabels(d, desc.digest, labels);
    else {
      await writeContent(d, bytes, {
        ref: refKey(desc),
        expected: desc.digest,
        total: desc.size,
        labels,
        signal: o.signal,
      });
    }
    o.progress?.update(refKey(desc), stored ? "exists" : "done", desc.size, desc.size);
    // Parse after storing: an unsupported type still fails the pull here, not half-way.
    parseManifest(bytes, desc.mediaType);
    await Promise.all(kids.map(handle));
  };
  await handle(root);

  // Blobs (configs, layers) in parallel, a few at a time.
  const queue = [...new Map(layers.map((l) => [l.digest, l])).values()];
  for (const l of queue) o.progress?.update(refKey(l), "waiting", 0, l.size);
  const worker = async () => {
    for (let l = queue.shift(); l; l = queue.shift()) await fetchBlob(d, fetcher, l, source, o);
  };
  await Promise.all(Array.from({ length: o.concurrency ?? 3 }, worker));
}

async function fetchBlob(
  d: Daemon,
  fetcher: ReturnType<Resolver["fetcher"]>,
  desc: Descriptor,
  labels: Record<string, string>,
  o: FetchOptions,
): Promise<void> {
  const key = refKey(desc);
  if (await hasContent(d, desc.digest)) {
    await setLabels(d, desc.digest, labels);
    o.progress?.update(key, "exists", desc.size, desc.size);
    return;
  }
  o.progress?.update(key, "downloading", 0, desc.size);
  await writeContent(d, fetcher.fetch(desc, { signal: o.signal }), {
    ref: key,
    expected: desc.digest,
    total: desc.size,
    labels,
    signal: o.signal,
    onProgress: (n) => o.progress?.update(key, "downloading", n, desc.size),
  });
  o.progress?.update(key, "done", desc.size, desc.size);
}
