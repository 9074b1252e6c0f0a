/** io.containerd.metadata.v1.sqlite: the metadata store, `<root>/io.containerd.metadata.v1.sqlite/meta.db`.
 *  The services that keep records here (namespaces now; images, containers, leases later)
 *  run in this same worker and use the database handle directly: one writer, no hop. */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { definePlugin, PluginType } from "@bunkerd/plugin-api";

export const METADATA_WORKER = PluginType.Metadata;

export default definePlugin({
  type: PluginType.Metadata,
  id: "sqlite",
  worker: METADATA_WORKER,
  async init(ctx) {
    const { openMetadata, schemaVersion } = await import("./db.ts");
    mkdirSync(ctx.root, { recursive: true, mode: 0o711 });
    const db = openMetadata(join(ctx.root, "meta.db"));
    ctx.exports.path = join(ctx.root, "meta.db");
    ctx.exports.schema = String(schemaVersion(db));
    return db;
  },
});
