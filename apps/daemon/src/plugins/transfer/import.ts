/** Archive stream → image store (containerd 1.7's pkg/transfer/local/import.go), in the
 *  transfer worker, under one lease of its own (as a pull):
 *  1. the archive is read into content as it streams (archive-read.ts): nothing is buffered but
 *     the small JSON files, and a blob that is not what its name says is refused;
 *  2. the root index is index.json (OCI layout), or one made from manifest.json (docker-archive);
 *  3. the tree under it is walked as the destination filters it (platforms, all_metadata,
 *     manifest_limit): every descriptor's blob must be in the store with the descriptor's size,
 *     children are labelled for the collector, and matching manifests are unpacked;
 *  4. only then are images recorded: the index under the store's name (`index_name`), each
 *     index entry under the names its annotations and the prefix references give.
 *  A failure anywhere before 4 records no image; what was stored goes with the lease. */
import { BunkerError, invalidArgument, Kind, notFound, toBunkerError } from "@bunkerd/plugin-api";
import {
  children as childrenOf,
  type Descriptor,
  isConfigType,
  isIndexType,
  isLayerType,
  isManifestOrIndexType,
  isManifestType,
  MAX_MANIFEST_SIZE,
  MediaType,
  platforms as P,
  type PlatformMatcher,
} from "@bunkerd/registry";
import { readArchive } from "./archive-read.ts";
import { dockerIndex } from "./docker-archive.ts";
import { REF_SOURCE, storeNames, withoutRefSource } from "./image-names.ts";
import { childrenLabels, Label } from "@bunkerd/registry";
import { LEASE_EXPIRY_MS, type PullServices } from "./pull.ts";
import type { ImageStoreTarget, ImportStreamSource, TransferOptions } from "./types.ts";
import { parseImageConfig, type UnpackPlatform, unpack } from "./unpack.ts";

const rfc3339 = (ms: number) => new Date(ms).toISOString().replace(/\.\d+Z$/, "Z");

export async function importStream(
  s: PullServices,
  source: ImportStreamSource,
  target: ImageStoreTarget,
  o: TransferOptions,
): Promise<void> {
  let lease = o.lease;
  let own = false;
  if (!lease) {
    lease = (await s.leases.create(o.ns, "", { [Label.gcExpire]: rfc3339(Date.now() + LEASE_EXPIRY_MS) })).id;
    own = true;
  }
  try {
    await runImport(s, source, target, { ...o, lease });
  } finally {
    if (own) {
      await s.leases
        .delete(o.ns, lease)
        .catch((e) => s.log?.warn("failed to delete import lease", { lease, e }));
    }
  }
}

async function runImport(
  s: PullServices,
  source: ImportStreamSource,
  target: ImageStoreTarget,
  o: TransferOptions & { lease: string },
): Promise<void> {
  const progress = o.progress;
  progress?.({ event: "Importing" });
  const contents = await readArchive(s.ingest, source.bytes, {
    ns: o.ns,
    lease: o.lease,
    signal: o.signal,
    log: s.log,
  });
  let root: Descriptor;
  if (contents.layoutVersion !== undefined) {
    if (contents.layoutVersion !== "1.0.0")
      throw invalidArgument(`unsupported OCI version ${contents.layoutVersion}`);
    if (!contents.index) throw invalidArgument("missing index.json in OCI layout 1.0.0");
    root = { mediaType: MediaType.OciIndex, ...contents.index };
  } else if (contents.dockerManifests) {
    root = await dockerIndex(s, contents, {
      ns: o.ns,
      lease: o.lease,
      forceCompress: source.forceCompress,
      signal: o.signal,
    });
  } else {
    throw invalidArgument("unrecognized image format");
  }

  const walk = new ImportWalk(s, target, o);
  const descriptors = await walk.run(root);
  await walk.unpackAll();

  for (const desc of descriptors) {
    let names: string[];
    try {
      names = storeNames(target, desc);
    } catch (e) {
      if (e instanceof BunkerError && e.kind === Kind.NotFound) continue;
      throw e;
    }
    const t = withoutRefSource(desc);
    for (const name of names) {
      await storeImage(s, o.ns, {
        name,
        labels: target.labels,
        target: { mediaType: t.mediaType, digest: t.digest, size: t.size, annotations: t.annotations ?? {} },
      });
      progress?.({ event: "saved", name, desc: t });
    }
  }
  progress?.({ event: "Completed import" });
}

class ImportWalk {
  private readonly matcher: PlatformMatcher;
  private readonly unpackPlatforms: UnpackPlatform[];
  /** Manifests to unpack: config digest → [config, layers]. */
  private readonly toUnpack = new Map<string, { config: Descriptor; layers: Descriptor[] }>();
  private readonly seen = new Set<string>();

  constructor(
    private readonly s: PullServices,
    private readonly target: ImageStoreTarget,
    private readonly o: TransferOptions & { lease: string },
  ) {
    this.matcher = target.platforms.length > 0 ? P.ordered(...target.platforms) : P.all;
    this.unpackPlatforms = target.unpacks.map((u) => {
      const platform = P.normalize(u.platform ?? P.defaultSpec());
      return { platform, matcher: P.only(platform), snapshotter: u.snapshotter || s.defaultSnapshotter };
    });
  }

  /** Walks from the root; answers the descriptors to name: the root, then its entries. */
  async run(root: Descriptor): Promise<Descriptor[]> {
    const bytes = await this.read(root);
    const entries = childrenOf(root, bytes);
    const descriptors = [
      root,
      ...entries.map((m) => ({
        ...m,
        annotations: { ...(m.annotations ?? {}), [REF_SOURCE]: "annotation" },
      })),
    ];
    const next = await this.handle(root, entries);
    if (next.length === 0) throw notFound("image might be filtered out");
    for (const c of next) await this.visit(c);
    return descriptors;
  }

  private async visit(desc: Descriptor): Promise<void> {
    this.o.signal.throwIfAborted();
    await this.check(desc);
    if (!isManifestOrIndexType(desc.mediaType)) return;
    const children = childrenOf(desc, await this.read(desc));
    const next = await this.handle(desc, children);
    if (isManifestType(desc.mediaType)) this.noteUnpack(next);
    for (const c of next) await this.visit(c);
  }

  /** Labels the parent with its children, then filters them (containerd's ImageFilter). */
  private async handle(desc: Descriptor, children: Descriptor[]): Promise<Descriptor[]> {
    if (children.length > 0) {
      const labels = childrenLabels(children);
      await this.s.content.update(
        this.o.ns,
        { digest: desc.digest, labels },
        Object.keys(labels).map((k) => `labels.${k}`),
      );
    }
    const m = this.matcher;
    let out = children;
    if (this.target.allMetadata) {
      if (desc.platform && isManifestType(desc.mediaType) && !m.match(desc.platform))
        out = children.filter((c) => isConfigType(c.mediaType));
    } else {
      out = children.filter((c) => c.platform === undefined || m.match(c.platform));
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

  /** The blob must be stored, with the size its descriptor gives. */
  private async check(desc: Descriptor): Promise<void> {
    if (this.seen.has(`${desc.digest}/${desc.size}`)) return;
    let info: { size: number };
    try {
      info = await this.s.content.blobPath(this.o.ns, desc.digest);
    } catch (e) {
      const err = toBunkerError(e);
      if (err.kind === Kind.NotFound)
        throw notFound(`content digest ${desc.digest}: not found in the archive (${desc.mediaType})`);
      throw err;
    }
    if (info.size !== desc.size)
      throw invalidArgument(
        `blob ${desc.digest}: the archive has ${info.size} bytes, its descriptor says ${desc.size}`,
      );
    this.seen.add(`${desc.digest}/${desc.size}`);
  }

  private async read(desc: Descriptor): Promise<Uint8Array> {
    await this.check(desc);
    if (desc.size > MAX_MANIFEST_SIZE)
      throw invalidArgument(`${desc.mediaType} ${desc.digest} is ${desc.size} bytes, too large`);
    const { path } = await this.s.content.blobPath(this.o.ns, desc.digest);
    return Bun.file(path).bytes();
  }

  private noteUnpack(children: Descriptor[]): void {
    if (this.unpackPlatforms.length === 0) return;
    const config = children.find((c) => isConfigType(c.mediaType));
    if (!config) return;
    this.toUnpack.set(config.digest, { config, layers: children.filter((c) => isLayerType(c.mediaType)) });
  }

  /** Unpacks each walked manifest whose config names a platform asked for. */
  async unpackAll(): Promise<void> {
    for (const { config, layers } of this.toUnpack.values()) {
      const { path } = await this.s.content.blobPath(this.o.ns, config.digest);
      const image = parseImageConfig(await Bun.file(path).bytes(), config.digest);
      const platform = P.normalize({ os: image.os, architecture: image.architecture });
      if (!this.unpackPlatforms.some((u) => u.matcher.match(platform))) continue;
      await unpack(this.s, {
        ns: this.o.ns,
        lease: this.o.lease,
        signal: this.o.signal,
        platforms: this.unpackPlatforms,
        config,
        layers,
        // Every layer was checked in the walk: nothing to fetch.
        fetchLayer: async () => {},
      });
    }
  }
}

/** Creates the image, or updates it when the name exists (containerd's Store). */
export async function storeImage(
  s: Pick<PullServices, "images">,
  ns: string,
  image: Parameters<PullServices["images"]["create"]>[1],
): Promise<void> {
  for (;;) {
    try {
      await s.images.create(ns, image);
      return;
    } catch (e) {
      if (!(e instanceof BunkerError && e.kind === Kind.AlreadyExists)) throw e;
    }
    try {
      await s.images.update(ns, image);
      return;
    } catch (e) {
      if (!(e instanceof BunkerError && e.kind === Kind.NotFound)) throw e;
    }
  }
}
