/** The GC plugin's init, loaded in the metadata worker: the database, the backends in other
 *  workers (looked up when a collection first needs them), and the running scheduler. */
import { type InitContext, Kind, type Logger, PluginType, toBunkerError } from "@bunkerd/plugin-api";
import type { MetadataDb } from "../metadata/index.ts";
import type { SnapshotBackendsProxy } from "../../services/snapshots/gc-backend.ts";
import type { Backends, ContentBackend } from "./backends.ts";
import { collect } from "./collect.ts";
import { configExports, type GcConfig, schedulerConfig } from "./config.ts";
import { type Clock, GcScheduler } from "./scheduler.ts";

/** The content plugin's methods the collector calls, as a proxy from another worker serves
 *  them: every method returns a promise, a stream arrives as a promised async iterable. */
export interface ContentProxy {
  delete(digest: string): Promise<void>;
  walk(): Promise<AsyncIterable<BlobInfo>> | AsyncIterable<BlobInfo>;
  abort(ref: string): Promise<void>;
}

/** The local store's Info: `createdAt` is the commit time (the blob file's mtime). */
type BlobInfo = { digest: string; createdAt?: Date };

type Lookup = Pick<InitContext<GcConfig>, "get">;

/** Running totals since the daemon started, for the metrics endpoint. */
export interface GcTotals {
  collections: number;
  seconds: number;
  lastSeconds: number;
  removed: { content: number; snapshots: number; ingests: number; leases: number };
}

export async function startScheduler(
  ctx: InitContext<GcConfig>,
  clock?: Clock,
): Promise<GcScheduler & { totals(): Promise<GcTotals> }> {
  const db = await ctx.get<MetadataDb>(PluginType.Metadata, "sqlite");
  const config = schedulerConfig(ctx.config);
  Object.assign(ctx.exports, configExports(config));
  const backends = lazyBackends(ctx, ctx.log);
  const totals: GcTotals = {
    collections: 0,
    seconds: 0,
    lastSeconds: 0,
    removed: { content: 0, snapshots: 0, ingests: 0, leases: 0 },
  };
  let missed = false;
  let snapshottersSeen = false;
  const scheduler = new GcScheduler(
    async (dirty) => {
      const found = await backends();
      // Blobs (and snapshots) left while a backend was out of reach are found by walking it
      // whole: the content store on its return, the snapshotters the first time they are found.
      const haveSnapshotters = Object.keys(found.snapshotters ?? {}).length > 0;
      const all =
        dirty.all || (missed && found.content !== undefined) || (haveSnapshotters && !snapshottersSeen);
      missed = found.content === undefined;
      snapshottersSeen ||= haveSnapshotters;
      const stats = await collect(db, found, { dirty: { ...dirty, all }, log: ctx.log });
      totals.collections++;
      totals.seconds += stats.durationMs / 1000;
      totals.lastSeconds = stats.durationMs / 1000;
      for (const k of ["content", "snapshots", "ingests", "leases"] as const) totals.removed[k] += stats[k];
      return stats;
    },
    config,
    { log: ctx.log, clock },
  );
  // What /v1/metrics exports (the host asks through the plugin proxy at each scrape).
  return Object.assign(scheduler.start(), { totals: async () => structuredClone(totals) });
}

/** The backends, found on first use: the content store and the snapshots service are other
 *  workers' plugins and may be missing (disabled, failed, their worker gone); then their
 *  objects are left alone and the lookup is tried again next time. */
export function lazyBackends(ctx: Lookup, log?: Logger): () => Promise<Backends> {
  let content: ContentBackend | undefined;
  let snapshotters: Backends["snapshotters"];
  return async () => {
    if (!snapshotters) {
      try {
        const { snapshotterBackends } = await import("../../services/snapshots/gc-backend.ts");
        snapshotters = await snapshotterBackends(
          await ctx.get<SnapshotBackendsProxy>(PluginType.Service, "snapshots-service"),
        );
      } catch (e) {
        const err = toBunkerError(e);
        if (err.kind === Kind.NotFound)
          log?.debug("no snapshots service: snapshot cleanup skipped", { error: err.message });
        else log?.warn("snapshots service unreachable: snapshot cleanup skipped", { error: err.message });
      }
    }
    if (!content) {
      try {
        content = contentBackend(await ctx.get<ContentProxy>(PluginType.Content, "content"));
      } catch (e) {
        const err = toBunkerError(e);
        if (err.kind === Kind.NotFound)
          log?.debug("no content store: blob cleanup skipped", { error: err.message });
        else log?.warn("content store unreachable: blob cleanup skipped", { error: err.message });
      }
    }
    return { content, snapshotters: snapshotters ?? {} };
  };
}

export function contentBackend(proxy: ContentProxy): ContentBackend {
  return {
    deleteBlob: (digest) => proxy.delete(digest),
    abortIngest: (ref) => proxy.abort(ref),
    async *listBlobs() {
      for await (const info of await proxy.walk()) yield { digest: info.digest, createdAt: info.createdAt };
    },
  };
}
