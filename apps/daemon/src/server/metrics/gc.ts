/** Garbage-collection metrics: what each collection removed and how long it took, read from
 *  the collector (in the metadata worker) at each scrape. */
import type { GcTotals } from "../../plugins/gc/start.ts";
import type { MetricsRegistry } from "./registry.ts";

export function gcMetrics(registry: MetricsRegistry, totals: () => Promise<GcTotals | undefined>): void {
  const runs = registry.counter("bunkerd_gc_collections_total", "Garbage collections run.");
  const seconds = registry.counter("bunkerd_gc_duration_seconds_total", "Time spent in garbage collection.");
  const last = registry.gauge("bunkerd_gc_last_duration_seconds", "Duration of the last garbage collection.");
  const removed = registry.counter("bunkerd_gc_removed_total", "Objects removed by garbage collection.", [
    "type",
  ]);
  registry.collect(async () => {
    const t = await totals().catch(() => undefined);
    if (!t) return;
    // Counters mirror the collector's own running totals.
    runs.labels().setTotal(t.collections);
    seconds.labels().setTotal(t.seconds);
    last.set(t.lastSeconds);
    for (const [type, n] of Object.entries(t.removed)) removed.labels(type).setTotal(n);
  });
}
