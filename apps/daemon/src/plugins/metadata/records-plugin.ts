/** io.containerd.internal.v1.content-records: the metadata store's content records
 *  (content-records.ts) for the content worker, which reaches them through a plugin proxy.
 *  containerd keeps these inside its metadata plugin; we list them as an internal plugin, so they
 *  show in `ctr plugins ls` beside containerd's other internal ones. */
import { definePlugin, PluginType } from "@bunkerd/plugin-api";
import type { MetadataDb } from "./db.ts";
import { METADATA_WORKER } from "./plugin.ts";

export const contentRecordsPlugin = definePlugin({
  type: PluginType.Internal,
  id: "content-records",
  requires: [PluginType.Metadata],
  worker: METADATA_WORKER,
  async init(ctx) {
    const { ContentRecords } = await import("./content-records.ts");
    const { gcNotifier } = await import("./gc-notify.ts");
    const db = await ctx.get<MetadataDb>(PluginType.Metadata, "sqlite");
    return new ContentRecords(db, gcNotifier(ctx));
  },
});

export default contentRecordsPlugin;
