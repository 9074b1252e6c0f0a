/** Registry → image store (containerd 1.7's pkg/transfer/local/pull.go), in the transfer worker.
 *
 *  Under one lease made for the operation (24 h expiry, made while the reference resolves,
 *  deleted at the end; a caller's lease is used as it is), the reference is resolved and the
 *  graph under it walked: each descriptor is fetched into the content store, its children
 *  listed, labelled for the collector (`containerd.io/gc.ref.content.*`) and filtered by
 *  platform, and every blob labelled with its distribution source. A blob downloaded whole gets
 *  those labels with its commit (one metadata transaction, no extra calls), and a manifest's or
 *  config's bytes are kept from the download rather than read back from the store. With unpacks asked for, a manifest's layers are left to the unpacker,
 *  which starts when the config is stored and downloads them while it applies. Then the image
 *  records are created or updated, and `saved` is reported for each.
 *
 *  At most `maxConcurrentDownloads` descriptors are handled at once per pull. A pull cancelled
 *  by its caller keeps its lease, as containerd's does (its deferred delete runs on a cancelled
 *  context): what it downloaded stays, to be resumed by the next pull until the lease expires. */
import {
  BunkerError,
  invalidArgument,
  Kind,
  type Logger,
  notFound,
  toBunkerError,
} from "@bunkerd/plugin-api";
import {
  children as childrenOf,
  createLimiter,
  createResolver,
  type CredentialsFn,
  type Descriptor,
  isConfigType,
  isIndexType,
  isLayerType,
  isManifestOrIndexType,
  isManifestType,
  MediaType,
  platforms as P,
  type PlatformMatcher,
  type Resolver,
  type ResolverOptions,
} from "@bunkerd/registry";
import {
  type FetchContext,
  type FetchOptions,
  type FetchResult,
  fetchBlobWith,
  type IngestApi,
  type Inflight,
} from "./fetch.ts";
import { validateLabel } from "../metadata/validate.ts";
import { appendSource, childrenLabels, distributionSource, Label } from "@bunkerd/registry";
import { type ProgressFn, ProgressTracker } from "./progress.ts";
import type { ImageStoreTarget, RegistrySource, TransferOptions } from "./types.ts";
import { type ContentApi, type DifferApi, type SnapshotsApi, type UnpackPlatform, unpack } from "./unpack.ts";

/** How long the operation's lease lives if it is never deleted (containerd's default). */
export const LEASE_EXPIRY_MS = 24 * 60 * 60 * 1000;

export interface ImageRecord {
  name: string;
  labels: Record<string, string>;
  target: { mediaType: string; digest: string; size: number; annotations: Record<string, string> };
}

export interface PullServices {
  ingest: IngestApi;
  content: ContentApi & {
    info(ns: string, digest: string): Promise<{ labels: Record<string, string> }>;
  };
  snapshots: SnapshotsApi;
  differ: DifferApi;
  images: {
    create(ns: string, image: ImageRecord): Promise<unknown>;
    update(ns: string, image: ImageRecord, fieldpaths?: string[]): Promise<unknown>;
  };
  leases: {
    create(ns: string, id: string, labels?: Record<string, string>): Promise<{ id: string }>;
    delete(ns: string, id: string, opts?: { sync?: boolean }): Promise<void>;
  };
  tmpMountsDir: string;
  inflight: Inflight;
  maxConcurrentDownloads: number;
  /** The plugin's `config_path`, for requests that name no hosts directory. */
  hostsDir?: string;
  defaultSnapshotter: string;
  log?: Logger;
  /** Tests replace the registry client. */
  resolver?: (o: ResolverOptions) => Resolver;
}

const rfc3339 = (ms: number) => new Date(ms).toISOString().replace(/\.\d+Z$/, "Z");

/** Wraps an error with context, keeping its kind. */
const wrap = (what: string, e: unknown) => {
  const err = toBunkerError(e);
  return new BunkerError(err.kind, `${what}: ${err.message}`, { cause: err });
};

export async function pull(
  s: PullServices,
  source: RegistrySource,
  target: ImageStoreTarget,
  o: TransferOptions,
): Promise<void> {
  // The operation's lease is made while the reference resolves: nothing is stored before both.
  const own = !o.lease;
  const leased: Promise<string> = o.lease
    ? Promise.resolve(o.lease)
    : s.leases
        .create(o.ns, "", { [Label.gcExpire]: rfc3339(Date.now() + LEASE_EXPIRY_MS) })
        .then((l) => l.id);
  leased.catch(() => {});
  try {
    await new Pull(s, source, target, o, leased).run();
  } finally {
    const lease = own && !o.signal.aborted ? await leased.catch(() => undefined) : undefined;
    if (lease) {
      await s.leases
        .delete(o.ns, lease)
        .catch((e) => s.log?.warn("failed to delete pull lease", { lease, e }));
    }
  }
}

class Pull {
  private readonly abort = new AbortController();
  private readonly signal: AbortSignal;
  private readonly progress: ProgressFn | undefined;
  private readonly matcher: PlatformMatcher;
  private readonly unpackPlatforms: UnpackPlatform[];
  private readonly limiter;
  /** A manifest's config → the layers the unpacker will fetch. */
  private readonly layersOf = new Map<string, Descriptor[]>();
  private readonly unpacks: Promise<void>[] = [];
  private tracker!: ProgressTracker;
  private lease!: string;
  /** Config bytes kept from their download, for the unpack. */
  private readonly configs = new Map<string, Uint8Array>();
  private fc!: FetchContext;
  private dist!: { key: string; repository: string };

  constructor(
    private readonly s: PullServices,
    private readonly source: RegistrySource,
    private readonly target: ImageStoreTarget,
    private readonly o: TransferOptions,
    private readonly leased: Promise<string>,
  ) {
    this.signal = AbortSignal.any([o.signal, this.abort.signal]);
    this.progress = o.progress;
    this.matcher = target.platforms.length > 0 ? P.ordered(...target.platforms) : P.all;
    this.unpackPlatforms = target.unpacks.map((u) => {
      const platform = P.normalize(u.platform ?? P.defaultSpec());
      return { platform, matcher: P.only(platform), snapshotter: u.snapshotter || s.defaultSnapshotter };
    });
    this.limiter = createLimiter(s.maxConcurrentDownloads);
  }

  async run(): Promise<void> {
    const { s, source, target, o } = this;
    const what = `OCI Registry (${source.reference})`;
    this.progress?.({ event: `Resolving from ${what}` });
    const resolver = (s.resolver ?? createResolver)(resolverOptions(source, s.hostsDir, o.credentials));
    let resolved: Awaited<ReturnType<Resolver["resolve"]>>;
    try {
      resolved = await resolver.resolve(source.reference, { signal: this.signal });
    } catch (e) {
      throw wrap("failed to resolve image", e);
    }
    const { name, desc } = resolved;
    if (desc.mediaType === MediaType.DockerSchema1Manifest) {
      throw invalidArgument("schema 1 image manifests are no longer supported");
    }
    // Known before anything is fetched: a store with no name fails now, not after the download.
    const names = imageNames(target, desc.digest);
    this.lease = await this.leased;
    this.progress?.({ event: `Pulling from ${what}` });
    this.progress?.({ event: "fetching image content", name });
    this.tracker = new ProgressTracker(name, this.progress);
    this.dist = distributionSource(name);
    this.fc = {
      ns: o.ns,
      lease: this.lease,
      fetcher: resolver.fetcher(name),
      ingest: s.ingest,
      tracker: this.tracker,
      inflight: s.inflight,
      signal: this.signal,
    };
    try {
      try {
        await this.dispatch(desc);
      } finally {
        // An unpack that started finishes (or cleans up) before the pull answers.
        await Promise.allSettled(this.unpacks);
      }
      await Promise.all(this.unpacks);
    } catch (e) {
      // The first failure, rather than the cancellations it caused.
      throw this.abort.signal.aborted ? toBunkerError(this.abort.signal.reason) : e;
    } finally {
      this.tracker.stop();
    }
    for (const image of names) await this.store({ ...image, target: descriptorOut(desc) });
    for (const image of names) this.progress?.({ event: "saved", name: image.name });
    this.progress?.({ event: `Completed pull from ${what}` });
  }

  private fail(e: unknown): never {
    if (!this.abort.signal.aborted) this.abort.abort(toBunkerError(e));
    throw e;
  }

  /** Handles `desc` under the download limit, then its children, concurrently. */
  private async dispatch(desc: Descriptor): Promise<void> {
    let children: Descriptor[];
    try {
      children = await this.limiter.run(() => this.handle(desc));
    } catch (e) {
      this.fail(e);
    }
    await Promise.all(children.map((c) => this.dispatch(c)));
  }

  private async handle(desc: Descriptor): Promise<Descriptor[]> {
    this.signal.throwIfAborted();
    const parent = isManifestOrIndexType(desc.mediaType);
    let children: Descriptor[] = [];
    // A blob downloaded whole here is committed with its labels (children, distribution
    // source) in one call, its bytes kept; one that was stored already is read and labelled
    // afterwards, as containerd does it.
    const r = await this.fetch(desc, {
      keep: parent || isConfigType(desc.mediaType),
      labels: (bytes) => {
        const labels: Record<string, string> = {};
        if (parent && bytes) {
          children = childrenOf(desc, bytes);
          Object.assign(labels, childrenLabels(children));
        }
        if (!parent || bytes) this.sourceLabel(desc, undefined, labels);
        return labels;
      },
    });
    if (r.bytes && isConfigType(desc.mediaType)) this.configs.set(desc.digest, r.bytes);
    // Stored already, or resumed (its bytes were not all seen here): read and label it now.
    if (!r.labels || (parent && !r.bytes)) {
      if (parent) {
        const { path } = await this.s.content.blobPath(this.o.ns, desc.digest);
        children = childrenOf(desc, await Bun.file(path).bytes());
        if (children.length > 0) await this.setLabels(desc.digest, childrenLabels(children));
      }
      await this.appendSource(desc);
    }
    children = this.filter(desc, children);
    this.tracker.addChildren(desc, children);
    return this.unpackers(desc, children);
  }

  /** Stores the blob, with its progress: waiting, downloading…, complete or already exists. */
  private async fetch(desc: Descriptor, opts: FetchOptions = {}): Promise<FetchResult> {
    this.tracker.add(desc);
    const r = await fetchBlobWith(this.fc, desc, opts);
    if (r.state === "exists") this.tracker.exists(desc);
    else this.tracker.complete(desc);
    return r;
  }

  /** The children to follow (containerd's FilterPlatforms, or FilterManifestByPlatformHandler
   *  with all_metadata, then LimitManifests). */
  private filter(desc: Descriptor, children: Descriptor[]): Descriptor[] {
    const m = this.matcher;
    let out = children;
    if (this.target.allMetadata) {
      if (desc.platform && isManifestType(desc.mediaType) && !m.match(desc.platform))
        out = children.filter(
          (c) => c.mediaType === MediaType.OciConfig || c.mediaType === MediaType.DockerConfig,
        );
    } else {
      out = children.filter((c) => c.platform === undefined || m.match(c.platform));
      // An index with nothing for the asked platforms would store an image with no content.
      if (
        isIndexType(desc.mediaType) &&
        children.length > 0 &&
        out.length === 0 &&
        this.target.platforms.length > 0
      )
        throw notFound(
          `no match for platform in manifest ${desc.digest} (${this.target.platforms.map(P.format).join(", ")})`,
        );
    }
    if (this.target.manifestLimit > 0 && isIndexType(desc.mediaType)) {
      out = [...out].sort((a, b) => {
        if (!a.platform) return b.platform ? 1 : 0;
        if (!b.platform) return -1;
        return m.less(a.platform, b.platform) ? -1 : m.less(b.platform, a.platform) ? 1 : 0;
      });
      if (out.length === 0) throw notFound("no match for platform in manifest");
      out = out.slice(0, this.target.manifestLimit);
    }
    return out;
  }

  /** containerd's Unpacker.Unpack: a manifest's layers wait for its config, whose arrival
   *  starts their unpack. */
  private unpackers(desc: Descriptor, children: Descriptor[]): Descriptor[] {
    if (this.unpackPlatforms.length === 0) return children;
    if (isManifestType(desc.mediaType)) {
      const layers = children.filter((c) => isLayerType(c.mediaType));
      const others = children.filter((c) => !isLayerType(c.mediaType));
      for (const c of others) this.layersOf.set(c.digest, layers);
      return others;
    }
    if (isConfigType(desc.mediaType)) {
      const layers = this.layersOf.get(desc.digest) ?? [];
      if (layers.length > 0) {
        const job = unpack(this.s, {
          ns: this.o.ns,
          lease: this.lease,
          signal: this.signal,
          platforms: this.unpackPlatforms,
          config: desc,
          configBytes: this.configs.get(desc.digest),
          layers,
          fetchLayer: (l) =>
            this.limiter.run(async () => {
              this.signal.throwIfAborted();
              const r = await this.fetch(l, { labels: () => this.sourceLabel(l, undefined, {}) });
              if (!r.labels) await this.appendSource(l);
            }),
          onLayer: (l, state) =>
            state === "unpacking" ? this.tracker.unpacking(l) : this.tracker.unpacked(l),
        }).catch((e) => this.fail(e));
        // Awaited after the walk; until then a failure must not count as unhandled.
        job.catch(() => {});
        this.unpacks.push(job);
      }
    }
    return children;
  }

  private async setLabels(digest: string, labels: Record<string, string>): Promise<void> {
    await this.s.content.update(
      this.o.ns,
      { digest, labels },
      Object.keys(labels).map((k) => `labels.${k}`),
    );
  }

  /** Adds the repository to the blob's distribution source label; skipped (as containerd
   *  does) when the label would grow past what a label may hold. */
  private async appendSource(desc: Descriptor): Promise<void> {
    const info = await this.s.content.info(this.o.ns, desc.digest);
    const labels = this.sourceLabel(desc, info.labels[this.dist.key], {});
    if (Object.keys(labels).length > 0) await this.setLabels(desc.digest, labels);
  }

  /** Adds the distribution source label, `current` plus this repository, to `labels`; left out
   *  (with a warning) when it would be longer than a label may be. */
  private sourceLabel(
    desc: Descriptor,
    current: string | undefined,
    labels: Record<string, string>,
  ): Record<string, string> {
    const { key, repository } = this.dist;
    const value = appendSource(current, repository);
    try {
      validateLabel("info.Labels", key, value);
      labels[key] = value;
    } catch (e) {
      if (!(e instanceof BunkerError && e.kind === Kind.InvalidArgument)) throw e;
      this.s.log?.warn("skipping distribution source label", { digest: desc.digest, error: e.message });
    }
    return labels;
  }

  /** Creates the image, or updates it when the name exists (containerd's Store). */
  private async store(image: ImageRecord): Promise<void> {
    for (;;) {
      try {
        await this.s.images.create(this.o.ns, image);
        return;
      } catch (e) {
        if (!(e instanceof BunkerError && e.kind === Kind.AlreadyExists)) throw e;
      }
      try {
        await this.s.images.update(this.o.ns, image);
        return;
      } catch (e) {
        // Removed in between: create it again.
        if (!(e instanceof BunkerError && e.kind === Kind.NotFound)) throw e;
      }
    }
  }
}

export function resolverOptions(
  source: RegistrySource,
  hostsDir: string | undefined,
  credentials: CredentialsFn | undefined,
): ResolverOptions {
  const o: ResolverOptions = { headers: source.headers };
  const dir = source.hostDir || hostsDir;
  if (dir) o.hostsDir = dir;
  if (source.defaultScheme === "http") o.plainHttp = true;
  if (credentials) o.credentials = credentials;
  return o;
}

const descriptorOut = (d: Descriptor) => ({
  mediaType: d.mediaType,
  digest: d.digest,
  size: d.size,
  annotations: d.annotations ?? {},
});

/** The names to store the image under: the store's name and its complete extra references
 *  (prefix references name images of an import, not of a pull). */
function imageNames(target: ImageStoreTarget, digest: string): Omit<ImageRecord, "target">[] {
  const names: string[] = [];
  if (target.name) names.push(target.name);
  for (const r of target.extraReferences) {
    if (!r.isPrefix) names.push(r.addDigest ? `${r.name}@${digest}` : r.name);
  }
  if (names.length === 0) throw notFound("no image name found");
  return names.map((name) => ({ name, labels: target.labels }));
}
