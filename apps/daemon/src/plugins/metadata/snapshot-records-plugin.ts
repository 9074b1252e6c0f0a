/** io.containerd.internal.v1.snapshot-records: the metadata store's snapshot records
 *  (snapshot-records.ts) for the snapshotter worker, which reaches them through a plugin proxy.
 *  A plugin of its own beside content-records (records-plugin.ts), so either loads without the
 *  other and `ctr plugins ls` lists both among containerd's internal ones. */
import { definePlugin, PluginType } from "@bunkerd/plugin-api";
import type { MetadataDb } from "./db.ts";
import { METADATA_WORKER } from "./plugin.ts";

export const snapshotRecordsPlugin = definePlugin({
  type: PluginType.Internal,
  id: "snapshot-records",
  requires: [PluginType.Metadata],
  worker: METADATA_WORKER,
  async init(ctx) {
    const { SnapshotRecords } = await import("./snapshot-records.ts");
    const { gcNotifier } = await import("./gc-notify.ts");
    const db = await ctx.get<MetadataDb>(PluginType.Metadata, "sqlite");
    return new SnapshotRecords(db, gcNotifier(ctx));
  },
});

export default snapshotRecordsPlugin;
