/** The plugin modules bundled with bunkerd that run in workers, by the name the plan uses,
 *  each imported on first use: the host imports all of them to read their records, and each
 *  worker only those of its own plugins. A module's records are cheap; each init imports its
 *  implementation. The router-level plugins (version, introspection, events, health) close
 *  over the host and are listed in daemon.ts. Add new plugin modules here. */
import type { PluginModule } from "@bunkerd/plugin-api";

export const builtinModules: Record<string, () => Promise<PluginModule>> = {
  content: () => import("./services/content/plugin.ts"),
  snapshotters: () => import("@bunkerd/snapshotters/plugin"),
  metadata: () => import("./plugins/metadata/plugin.ts"),
  contentRecords: () => import("./plugins/metadata/records-plugin.ts"),
  snapshotRecords: () => import("./plugins/metadata/snapshot-records-plugin.ts"),
  gc: () => import("./plugins/gc/plugin.ts"),
  images: () => import("./services/images/plugin.ts"),
  containers: () => import("./services/containers/plugin.ts"),
  leases: () => import("./services/leases/plugin.ts"),
  namespaces: () => import("./services/namespaces/plugin.ts"),
  snapshots: () => import("./services/snapshots/plugin.ts"),
  differ: () => import("./plugins/differ/plugin.ts"),
  diff: () => import("./services/diff/plugin.ts"),
  streaming: () => import("./services/streaming/plugin.ts"),
  transfer: () => import("./plugins/transfer/plugin.ts"),
  transferGrpc: () => import("./services/transfer/plugin.ts"),
  runtime: () => import("./plugins/runtime/plugin.ts"),
  tasks: () => import("./services/tasks/plugin.ts"),
};
