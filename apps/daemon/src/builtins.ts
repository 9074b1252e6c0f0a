/** The plugins bundled with bunkerd that run in workers, one module per entry, keyed by the
 *  name the plan uses. Records are cheap to import; each init loads its implementation.
 *  The router-level plugins (version, introspection, events, health) close over the host
 *  and are listed in daemon.ts. */
import type { PluginModule } from "@bunkerd/plugin-api";
import * as snapshotters from "@bunkerd/snapshotters/plugin";
import * as differ from "./plugins/differ/plugin.ts";
import * as gc from "./plugins/gc/plugin.ts";
import * as metadata from "./plugins/metadata/plugin.ts";
import * as transfer from "./plugins/transfer/plugin.ts";
import * as contentRecords from "./plugins/metadata/records-plugin.ts";
import * as snapshotRecords from "./plugins/metadata/snapshot-records-plugin.ts";
import * as containers from "./services/containers/plugin.ts";
import * as content from "./services/content/plugin.ts";
import * as diff from "./services/diff/plugin.ts";
import * as images from "./services/images/plugin.ts";
import * as leases from "./services/leases/plugin.ts";
import * as namespaces from "./services/namespaces/plugin.ts";
import * as snapshots from "./services/snapshots/plugin.ts";
import * as streaming from "./services/streaming/plugin.ts";
import * as transferGrpc from "./services/transfer/plugin.ts";
import * as runtime from "./plugins/runtime/plugin.ts";
import * as tasks from "./services/tasks/plugin.ts";

export const builtins: Record<string, PluginModule> = {
  content,
  snapshotters,
  metadata,
  contentRecords,
  snapshotRecords,
  gc,
  images,
  containers,
  leases,
  namespaces,
  snapshots,
  differ,
  diff,
  streaming,
  transfer,
  transferGrpc,
  runtime,
  tasks,
};
