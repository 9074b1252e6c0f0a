/** The plugins bundled with bunkerd that run in workers, one module per entry, keyed by the
 *  name the plan uses. The router-level plugins (version, introspection, events, health)
 *  close over the host and are listed in daemon.ts. */
import type { PluginModule } from "@bunkerd/plugin-api";

export const builtins: Record<string, PluginModule> = {};
