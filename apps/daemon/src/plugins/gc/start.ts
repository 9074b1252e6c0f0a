/** The GC plugin's init, loaded in the metadata worker: the database, the backends in other
 *  workers (looked up when a collection first needs them), and the running scheduler. */
import { type InitContext, Kind, type Logger, PluginType, toBunkerError } from "@bunkerd/plugin-api";
import type { MetadataDb } from "../metadata/index.ts";
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

export async function startScheduler(ctx: InitContext<GcConfig>, clock?: Clock): Promise<GcScheduler> {
  const db = await ctx.get<MetadataDb>(PluginType.Metadata, "sqlite");
  const config = schedulerConfig(ctx.config);
  Object.assign(ctx.exports, configExports(config));
  const backends = lazyBackends(ctx, ctx.log);
  let missed = false;
  const scheduler = new GcScheduler(
    async (dirty) => {
      const found = await backends();
      // Blobs left while the content store was out of reach are found by walking it whole.
      const all = dirty.all || (missed && found.content !== undefined);
      missed = found.content === undefined;
      return collect(db, found, { dirty: { ...dirty, all }, log: ctx.log });
    },
    config,
    { log: ctx.log, clock },
  );
  return scheduler.start();
}

/** The backends, found on first use: the content store is another worker's plugin and may be
 *  missing (disabled, failed, its worker gone); then blobs are left alone and the lookup is
 *  tried again next time. Snapshotters are not wired yet: their records are collected, their
 *  backends kept. */
export function lazyBackends(ctx: Lookup, log?: Logger): () => Promise<Backends> {
  let content: ContentBackend | undefined;
  return async () => {
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
    return { content, snapshotters: {} };
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
