/** The transfer pipeline's plugins:
 *  - io.containerd.transfer.v1.local, in the transfer worker: pull, push, import and export;
 *  - io.containerd.service.v1.ingest-sessions, in the content worker: write sessions on the
 *    namespaced content store that the pipeline drives over a proxy (a writer cannot cross a
 *    port, so it stays beside the store). */
import { dirname, join } from "node:path";
import { definePlugin, PluginType } from "@bunkerd/plugin-api";
import type { NamespacedContent } from "../../services/content/store.ts";
import type { ImagesLocal } from "../../services/images/local.ts";
import type { LeasesLocal } from "../../services/leases/local.ts";
import type { SnapshotsService } from "../../services/snapshots/snapshotters.ts";
import { defaultConfig, parseConfig, type TransferConfig } from "./config.ts";
import type { IngestSessions } from "./ingest.ts";
import type { LocalTransfer } from "./transfer.ts";

export const TRANSFER_WORKER = PluginType.Transfer;
/** The content worker (services/content/plugin.ts CONTENT_WORKER). */
const CONTENT_WORKER = PluginType.Content;
export const DEFAULT_SNAPSHOTTER = "overlayfs";

const CONTENT_SERVICE = `${PluginType.Service}.content-service`;
const INGEST_SESSIONS = `${PluginType.Service}.ingest-sessions`;

export const ingestSessions = definePlugin<unknown, IngestSessions>({
  type: PluginType.Service,
  id: "ingest-sessions",
  requires: [CONTENT_SERVICE],
  worker: CONTENT_WORKER,
  async init(ctx) {
    const { IngestSessions } = await import("./ingest.ts");
    return new IngestSessions(await ctx.get<NamespacedContent>(PluginType.Service, "content-service"));
  },
});

export const transferLocal = definePlugin<TransferConfig, LocalTransfer>({
  type: PluginType.Transfer,
  id: "local",
  requires: [
    CONTENT_SERVICE,
    INGEST_SESSIONS,
    `${PluginType.Service}.snapshots-service`,
    `${PluginType.Service}.images-service`,
    `${PluginType.Service}.leases-service`,
    PluginType.Differ,
  ],
  worker: TRANSFER_WORKER,
  config: defaultConfig,
  parseConfig,
  async init(ctx) {
    const { LocalTransfer } = await import("./transfer.ts");
    const { Inflight } = await import("./fetch.ts");
    const get = <T>(type: string, id: string) => ctx.get<T>(type, id);
    return new LocalTransfer({
      ingest: await get<IngestSessions>(PluginType.Service, "ingest-sessions"),
      content: await get<NamespacedContent>(PluginType.Service, "content-service"),
      snapshots: await get<SnapshotsService>(PluginType.Service, "snapshots-service"),
      differ: await get(PluginType.Differ, "walking"),
      images: await get<ImagesLocal>(PluginType.Service, "images-service"),
      leases: await get<LeasesLocal>(PluginType.Service, "leases-service"),
      // ctx.root is <root>/io.containerd.transfer.v1.local: the daemon's root is its parent.
      tmpMountsDir: join(dirname(ctx.root), "tmpmounts"),
      inflight: new Inflight(),
      maxConcurrentDownloads: ctx.config.max_concurrent_downloads,
      hostsDir: ctx.config.config_path || undefined,
      defaultSnapshotter: DEFAULT_SNAPSHOTTER,
      log: ctx.log,
    });
  },
});

export default [ingestSessions, transferLocal];
