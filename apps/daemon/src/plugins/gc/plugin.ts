/** io.containerd.gc.v1.scheduler: containerd's garbage collector and its scheduler, in the
 *  metadata worker beside the only SQLite writer. Services there reach it with
 *  `ctx.get(PluginType.GC, "scheduler")` and call `mutated()` / `deleted()` after each commit,
 *  and `collect()` for `--sync`. */
import { definePlugin, PluginType } from "@bunkerd/plugin-api";
import { METADATA_WORKER } from "../metadata/plugin.ts";
import { defaultConfig, type GcConfig, parseConfig } from "./config.ts";
import type { GcScheduler } from "./scheduler.ts";

export default definePlugin<GcConfig, GcScheduler>({
  type: PluginType.GC,
  id: "scheduler",
  requires: [PluginType.Metadata],
  worker: METADATA_WORKER,
  config: defaultConfig,
  parseConfig,
  async init(ctx) {
    const { startScheduler } = await import("./start.ts");
    return startScheduler(ctx);
  },
});
