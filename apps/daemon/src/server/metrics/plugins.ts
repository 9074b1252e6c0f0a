/** One series per plugin with its state, so a dashboard shows what loaded, skipped or failed
 *  (`ctr plugins ls` as a metric). */
import type { MetricsRegistry } from "./registry.ts";

export interface PluginState {
  readonly type: string;
  readonly id: string;
  readonly state: string;
}

export function pluginMetrics(registry: MetricsRegistry, plugins: () => readonly PluginState[]): void {
  const info = registry.gauge("bunkerd_plugin_info", "Plugins of this daemon and their state (always 1).", [
    "type",
    "id",
    "state",
  ]);
  registry.collect(() => {
    info.reset();
    for (const p of plugins()) info.labels(p.type, p.id, p.state).set(1);
  });
}
