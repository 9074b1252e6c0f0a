/** Image store → registry (containerd 1.7's pkg/transfer/local/push.go over remotes.PushContent),
 *  in the transfer worker. The image's tree is pushed children first, so a registry never holds
 *  a manifest whose blobs it lacks: layers and configs (at most `maxConcurrentDownloads` at a
 *  time), then each manifest by digest, then the root under the reference's tag. A blob the
 *  registry has (HEAD) is not sent; one whose content carries a distribution source label for
 *  the same registry is mounted from that repository when it can be. Blobs stream from their
 *  files; the registry client checks them against their descriptors on the way.
 *
 *  Progress is containerd's: `Pushing to …`, `pushing content`, per blob `waiting`,
 *  `uploading` with the bytes sent, `complete` or `already exists`, then `pushed content` and
 *  `Completed push to …`. With platforms on the source, an index's other manifests are left out. */
import { BunkerError, invalidArgument, Kind, type Logger, notFound } from "@bunkerd/plugin-api";
import {
  children as childrenOf,
  createLimiter,
  createResolver,
  DISTRIBUTION_SOURCE_LABEL,
  type Descriptor,
  isIndexType,
  isManifestOrIndexType,
  MAX_MANIFEST_SIZE,
  platforms as P,
  type Pusher,
  type Resolver,
  type ResolverOptions,
} from "@bunkerd/registry";
import { ProgressTracker } from "./progress.ts";
import { resolverOptions } from "./pull.ts";
import type { ImageStoreTarget, RegistrySource, TransferOptions } from "./types.ts";

export interface PushServices {
  content: {
    blobPath(ns: string, digest: string): Promise<{ path: string; size: number }>;
    info(ns: string, digest: string): Promise<{ labels: Record<string, string> }>;
  };
  images: { get(ns: string, name: string): Promise<{ name: string; target: Descriptor }> };
  maxConcurrentDownloads: number;
  hostsDir?: string;
  log?: Logger;
  resolver?: (o: ResolverOptions) => Resolver;
}

export async function push(
  s: PushServices,
  source: ImageStoreTarget,
  dest: RegistrySource,
  o: TransferOptions,
): Promise<void> {
  if (!source.name) throw invalidArgument("push: the image store source names no image");
  const img = await s.images.get(o.ns, source.name);
  const what = `OCI Registry (${dest.reference})`;
  const target = { ...img.target, annotations: img.target.annotations ?? {} };
  o.progress?.({ event: `Pushing to ${what}` });
  o.progress?.({ event: "pushing content", name: img.name, desc: target });
  const resolver = (s.resolver ?? createResolver)(resolverOptions(dest, s.hostsDir, o.credentials));
  const pusher = resolver.pusher(dest.reference);
  const tracker = new ProgressTracker(img.name, o.progress, undefined, "uploading");
  try {
    await new PushWalk(s, pusher, tracker, source, dest, o).pushRoot(img.target);
  } finally {
    tracker.stop();
  }
  o.progress?.({ event: "pushed content", name: img.name, desc: target });
  o.progress?.({ event: `Completed push to ${what}`, desc: target });
}

class PushWalk {
  private readonly limiter;
  private readonly done = new Map<string, Promise<void>>();
  private readonly matcher;

  constructor(
    private readonly s: PushServices,
    private readonly pusher: Pusher,
    private readonly tracker: ProgressTracker,
    source: ImageStoreTarget,
    private readonly dest: RegistrySource,
    private readonly o: TransferOptions,
  ) {
    this.limiter = createLimiter(s.maxConcurrentDownloads);
    this.matcher = source.platforms.length > 0 ? P.ordered(...source.platforms) : P.all;
  }

  pushRoot(desc: Descriptor): Promise<void> {
    return this.push(desc, true);
  }

  /** Each digest is pushed once, however many parents list it. */
  private push(desc: Descriptor, root = false): Promise<void> {
    const key = `${desc.digest}${root ? "#root" : ""}`;
    let p = this.done.get(key);
    if (!p) {
      p = this.pushOne(desc, root);
      this.done.set(key, p);
    }
    return p;
  }

  private async pushOne(desc: Descriptor, root: boolean): Promise<void> {
    this.o.signal.throwIfAborted();
    this.tracker.add(desc);
    const { path, size } = await this.blob(desc);
    if (isManifestOrIndexType(desc.mediaType)) {
      if (size > MAX_MANIFEST_SIZE) throw notFound(`manifest ${desc.digest} is too large`);
      const bytes = await Bun.file(path).bytes();
      let children = childrenOf(desc, bytes);
      if (isIndexType(desc.mediaType))
        children = children.filter((c) => !c.platform || this.matcher.match(c.platform));
      this.tracker.addChildren(desc, children);
      await Promise.all(children.map((c) => this.push(c)));
      const exists = await this.limiter.run(async () => {
        if (!root && (await this.pusher.exists(desc, { signal: this.o.signal }))) return true;
        await this.pusher.pushManifest(root ? this.dest.reference : undefined, desc, bytes);
        return false;
      });
      if (exists) this.tracker.exists(desc);
      else this.tracker.complete(desc);
      return;
    }
    const annotated = {
      ...desc,
      annotations: { ...(desc.annotations ?? {}), ...(await this.sources(desc)) },
    };
    const tracker = this.tracker;
    const signal = this.o.signal;
    const result = await this.limiter.run(() =>
      this.pusher.push(
        annotated,
        async function* () {
          let offset = 0;
          for await (const chunk of Bun.file(path).stream() as unknown as AsyncIterable<Uint8Array>) {
            signal.throwIfAborted();
            offset += chunk.length;
            tracker.update(desc, offset);
            yield chunk;
          }
        },
        { signal },
      ),
    );
    if (result.status === "pushed") tracker.complete(desc);
    else tracker.exists(desc);
  }

  private async blob(desc: Descriptor) {
    try {
      return await this.s.content.blobPath(this.o.ns, desc.digest);
    } catch (e) {
      if (e instanceof BunkerError && e.kind === Kind.NotFound)
        throw notFound(`content digest ${desc.digest}: not found`);
      throw e;
    }
  }

  /** The blob's distribution source labels, as annotations a mount can use. */
  private async sources(desc: Descriptor): Promise<Record<string, string>> {
    const info = await this.s.content.info(this.o.ns, desc.digest);
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(info.labels ?? {}))
      if (k.startsWith(`${DISTRIBUTION_SOURCE_LABEL}.`)) out[k] = v;
    return out;
  }
}
