/** Unpacking an image's layers into a snapshotter while they download (containerd 1.7's
 *  pkg/unpack): for each layer in order, the snapshot named by its chain ID is looked up and
 *  skipped if committed; otherwise a snapshot is prepared under a temporary key on the parent
 *  chain, the layer applied once its blob is stored, the diffID the differ computed checked
 *  against the config's `rootfs.diff_ids`, and the snapshot committed as the chain ID.
 *
 *  Downloads start at the first layer that needs unpacking, all at once under the pull's
 *  download limit, so layer N+1 arrives while layer N is applied. The config gets
 *  `containerd.io/gc.ref.snapshot.<snapshotter>` = the top chain ID, each applied layer
 *  `containerd.io/uncompressed` = its diffID. */
import { BunkerError, invalidArgument, Kind, toBunkerError } from "@bunkerd/plugin-api";
import { type Descriptor, platforms as P, type Platform, type PlatformMatcher } from "@bunkerd/registry";
import type { Mount } from "../../services/diff/service.ts";
import type { Labels, Scope } from "../../services/snapshots/index.ts";
import { chainIds } from "@bunkerd/registry";
import type { Inflight } from "./fetch.ts";
import { Label } from "@bunkerd/registry";

/** The snapshots service's by-name calls (a proxy to the snapshotter worker). */
export interface SnapshotsApi {
  stat(snapshotter: string, scope: Scope, key: string): Promise<unknown>;
  prepare(
    snapshotter: string,
    scope: Scope,
    key: string,
    parent?: string,
    opts?: { labels?: Labels },
  ): Promise<Mount[]>;
  commit(
    snapshotter: string,
    scope: Scope,
    name: string,
    key: string,
    opts?: { labels?: Labels },
  ): Promise<void>;
  remove(snapshotter: string, scope: Scope, key: string): Promise<void>;
}

export interface DifferApi {
  apply(
    desc: Descriptor,
    mounts: Mount[],
    opts: { blobPath: string; tmpMountsDir: string },
  ): Promise<{ digest: string; size: number; mediaType: string }>;
}

export interface ContentApi {
  blobPath(ns: string, digest: string): Promise<{ path: string; size: number }>;
  update(
    ns: string,
    info: { digest: string; labels?: Record<string, string> },
    mask: string[],
  ): Promise<unknown>;
}

export interface UnpackPlatform {
  platform: Platform;
  matcher: PlatformMatcher;
  snapshotter: string;
}

export interface UnpackDeps {
  snapshots: SnapshotsApi;
  differ: DifferApi;
  content: ContentApi;
  tmpMountsDir: string;
  /** Per-worker locks: one unpack of a chain ID at a time (containerd's duplication suppressor). */
  inflight: Inflight;
}

export interface UnpackJob {
  ns: string;
  lease?: string;
  signal: AbortSignal;
  platforms: UnpackPlatform[];
  config: Descriptor;
  /** The config's bytes when the caller has them (read from the store otherwise). */
  configBytes?: Uint8Array;
  layers: Descriptor[];
  /** Stores a layer's blob (download, labels, progress). */
  fetchLayer(desc: Descriptor): Promise<void>;
  /** Told when a stored layer starts being applied, and when its snapshot is committed. */
  onLayer?: (desc: Descriptor, state: "unpacking" | "unpacked") => void;
}

export interface ImageConfig {
  os: string;
  architecture: string;
  diffIds: string[];
}

/** The parts of an image config an unpack needs; refuses what it cannot use, naming the field. */
export function parseImageConfig(bytes: Uint8Array, digest: string): ImageConfig {
  let doc: unknown;
  try {
    doc = JSON.parse(new TextDecoder().decode(bytes));
  } catch (e) {
    throw invalidArgument(`unmarshal image config ${digest}: ${(e as Error).message}`);
  }
  const o = (doc ?? {}) as { os?: unknown; architecture?: unknown; rootfs?: { diff_ids?: unknown } };
  const diffIds = o.rootfs?.diff_ids ?? [];
  if (
    !Array.isArray(diffIds) ||
    diffIds.some((d) => typeof d !== "string" || !/^[a-z0-9]+:[a-f0-9]+$/.test(d))
  ) {
    throw invalidArgument(`image config ${digest}: rootfs.diff_ids must be a list of digests`);
  }
  return {
    os: typeof o.os === "string" ? o.os : "",
    architecture: typeof o.architecture === "string" ? o.architecture : "",
    diffIds: diffIds as string[],
  };
}

/** containerd's uniquePart of an extraction key: `<nanoseconds>-<4 base64url chars>`. */
function uniquePart(): string {
  const nanos = (Date.now() % 1000) * 1_000_000 + Number(process.hrtime.bigint() % 1_000_000n);
  return `${nanos}-${Buffer.from(crypto.getRandomValues(new Uint8Array(3))).toString("base64url")}`;
}

const isKind = (e: unknown, kind: Kind) => e instanceof BunkerError && e.kind === kind;

/** Wraps an error with context, keeping its kind: "<what>: <original message>". */
const wrap = (what: string, e: unknown) => {
  const err = toBunkerError(e);
  return new BunkerError(err.kind, `${what}: ${err.message}`, { cause: err });
};

export async function unpack(d: UnpackDeps, job: UnpackJob): Promise<void> {
  const { ns, config, layers } = job;
  const scope: Scope = job.lease ? { namespace: ns, lease: job.lease } : { namespace: ns };
  const bytes =
    job.configBytes ?? (await Bun.file((await d.content.blobPath(ns, config.digest)).path).bytes());
  const image = parseImageConfig(bytes, config.digest);
  if (layers.length !== image.diffIds.length) {
    throw invalidArgument(
      `number of layers and diffIDs don't match: ${layers.length} != ${image.diffIds.length}`,
    );
  }
  const platform = P.normalize({ os: image.os, architecture: image.architecture });
  const target = job.platforms.find((u) => u.matcher.match(platform));
  if (!target) {
    throw invalidArgument(
      `unpacker does not support platform ${P.format(platform)} for image ${config.digest}`,
    );
  }
  const sn = target.snapshotter;
  const chain = chainIds(image.diffIds);

  // Downloads, all started at the first layer that needs one; each settles once (no
  // unhandled rejection if an earlier layer fails first).
  let fetches: Promise<unknown>[] | undefined;
  let from = 0;
  const fetched = (i: number) => {
    if (!fetches) {
      from = i;
      fetches = layers.slice(i).map((l) => job.fetchLayer(l));
      for (const f of fetches) f.catch(() => {});
    }
    return fetches[i - from]!;
  };

  // Label updates run beside the next steps (they touch only content records, and state facts
  // that hold whatever happens next) and are all awaited before the unpack answers.
  const labelled: Promise<unknown>[] = [];
  const label = (digest: string, key: string, value: string) => {
    const p = d.content.update(ns, { digest, labels: { [key]: value } }, [`labels.${key}`]);
    p.catch(() => {});
    labelled.push(p);
  };
  try {
    await unpackLayers();
    const top = chain.at(-1);
    if (top) label(config.digest, `${Label.gcSnapshot}${sn}`, top);
  } catch (e) {
    await Promise.allSettled(labelled);
    throw e;
  }
  await Promise.all(labelled);

  async function unpackLayers(): Promise<void> {
    // Set once this unpack commits a layer: the next chain IDs, whose parent did not exist,
    // cannot exist either (unless made meanwhile, which a commit finds: AlreadyExists), so
    // they are not looked up — one call less per layer.
    let made = false;
    for (let i = 0; i < layers.length; i++) {
      job.signal.throwIfAborted();
      const layer = layers[i]!;
      const chainId = chain[i]!;
      const parent = i > 0 ? chain[i - 1] : undefined;
      const lock = `sn:${sn}/${chainId}`;
      // Another pull in this worker unpacking the same chain ID: look again once it is done.
      const look = !made || d.inflight.has(lock);
      await d.inflight.once(lock, async () => {
        if (look && (await exists(d, sn, scope, chainId))) return;
        // The download overlaps the snapshot's preparation.
        fetched(i);
        const labels: Labels = { ...inherited(layer.annotations), [Label.snapshotRef]: chainId };
        let key = "";
        let mounts: Mount[] | undefined;
        for (let attempt = 1; attempt <= 3 && !mounts; attempt++) {
          key = `extract-${uniquePart()} ${chainId}`;
          try {
            mounts = await d.snapshots.prepare(sn, scope, key, parent, { labels });
          } catch (e) {
            if (!isKind(e, Kind.AlreadyExists))
              throw wrap(`failed to prepare extraction snapshot "${key}"`, e);
            if (await exists(d, sn, scope, chainId)) return;
          }
        }
        if (!mounts) throw new BunkerError(Kind.Unknown, "unable to prepare extraction snapshot");
        const abort = () => d.snapshots.remove(sn, scope, key).catch(() => {});
        let diffId: string;
        try {
          await fetched(i);
          job.signal.throwIfAborted();
          job.onLayer?.(layer, "unpacking");
          const blob = await d.content.blobPath(ns, layer.digest);
          const applied = await d.differ
            .apply(layer, mounts, { blobPath: blob.path, tmpMountsDir: d.tmpMountsDir })
            .catch((e) => {
              throw wrap(`failed to extract layer ${image.diffIds[i]}`, e);
            });
          job.signal.throwIfAborted();
          diffId = applied.digest;
          if (diffId !== image.diffIds[i]) {
            throw new BunkerError(
              Kind.Unknown,
              `wrong diff id calculated on extraction "${image.diffIds[i]}": got ${diffId} for layer ${layer.digest}`,
            );
          }
          label(layer.digest, Label.uncompressed, diffId);
        } catch (e) {
          await abort();
          throw e;
        }
        try {
          await d.snapshots.commit(sn, scope, chainId, key, { labels });
        } catch (e) {
          await abort();
          // Committed meanwhile by someone else: theirs is as good as ours.
          if (isKind(e, Kind.AlreadyExists)) return job.onLayer?.(layer, "unpacked");
          throw wrap(`failed to commit snapshot ${key}`, e);
        }
        made = true;
        job.onLayer?.(layer, "unpacked");
      });
    }
  }
}

async function exists(d: UnpackDeps, sn: string, scope: Scope, key: string): Promise<boolean> {
  try {
    await d.snapshots.stat(sn, scope, key);
    return true;
  } catch (e) {
    if (isKind(e, Kind.NotFound)) return false;
    throw wrap(`failed to stat snapshot ${key}`, e);
  }
}

/** Annotations a snapshot inherits as labels (containerd's FilterInheritedLabels). */
function inherited(annotations: Record<string, string> | undefined): Labels {
  const out: Labels = {};
  for (const [k, v] of Object.entries(annotations ?? {})) {
    if (k === Label.snapshotRef || k.startsWith("containerd.io/snapshot/")) out[k] = v;
  }
  return out;
}
