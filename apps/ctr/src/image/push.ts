/** Client-side `images push`: every blob the image reaches (index entries filtered by
 *  --platform when given) goes to the registry children first, via @bunkerd/registry's
 *  pusher; manifests and indexes are PUT by digest, the top one under the remote's tag. */
import {
  children as childrenOf,
  type Descriptor,
  isIndexType,
  isManifestType,
  type PlatformMatcher,
  parseReference,
  selectManifests,
} from "@bunkerd/registry";
import type { Daemon } from "../cli/client.ts";
import { readBlob, readContent } from "./content.ts";
import { refKey } from "@bunkerd/registry";
import type { ProgressView } from "./progress.ts";
import type { RegistryFlags } from "./registry.ts";
import { resolverFor } from "./registry.ts";

export interface PushOptions extends RegistryFlags {
  remote: string;
  target: Descriptor;
  matcher?: PlatformMatcher;
  progress?: ProgressView;
  concurrency?: number;
  signal?: AbortSignal;
}

export async function pushImage(d: Daemon, o: PushOptions): Promise<void> {
  const resolver = await resolverFor(o);
  const pusher = resolver.pusher(o.remote);
  const spec = parseReference(o.remote);
  const tag = spec.digest ? undefined : spec.tag || undefined;

  // Post-order: children before the manifests that reference them.
  const order: { desc: Descriptor; bytes?: Uint8Array }[] = [];
  const seen = new Set<string>();
  const walk = async (desc: Descriptor): Promise<void> => {
    if (seen.has(desc.digest)) return;
    seen.add(desc.digest);
    if (isManifestType(desc.mediaType) || isIndexType(desc.mediaType)) {
      const bytes = await readBlob(d, desc.digest);
      let kids = childrenOf(desc, bytes);
      if (isIndexType(desc.mediaType) && o.matcher) kids = selectManifests(kids, o.matcher);
      for (const k of kids) await walk(k);
      order.push({ desc, bytes });
    } else order.push({ desc });
  };
  await walk(o.target);

  const blobs = order.filter((x) => !x.bytes);
  for (const b of blobs) o.progress?.update(refKey(b.desc), "waiting", 0, b.desc.size);
  const queue = [...blobs];
  const worker = async () => {
    for (let b = queue.shift(); b; b = queue.shift()) {
      const key = refKey(b.desc);
      o.progress?.update(key, "uploading", 0, b.desc.size);
      const r = await pusher.push(b.desc, () => readContent(d, b!.desc.digest, o.signal), {
        signal: o.signal,
      });
      o.progress?.update(key, r.status === "pushed" ? "done" : "exists", b.desc.size, b.desc.size);
    }
  };
  await Promise.all(Array.from({ length: o.concurrency || 3 }, worker));
  for (const m of order.filter((x) => x.bytes)) {
    const top = m.desc.digest === o.target.digest;
    const key = refKey(m.desc);
    o.progress?.update(key, "uploading", 0, m.desc.size);
    const r = await pusher.pushManifest(top ? tag : undefined, m.desc, m.bytes!);
    o.progress?.update(key, r.status === "pushed" ? "done" : "exists", m.desc.size, m.desc.size);
  }
}
