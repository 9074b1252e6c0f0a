/** The collector's view of the snapshotters (plugins/gc `SnapshotterBackend`), built from the
 *  snapshots service's proxy: the collector runs in the metadata worker, the backends here in the
 *  snapshotter worker. gc/start.ts gets the service with
 *  `ctx.get(PluginType.Service, "snapshots-service")` and hands it to `snapshotterBackends`. */
import type { SnapshotterBackend } from "../../plugins/gc/backends.ts";
import type { BackendEntry } from "./snapshotters.ts";

/** The snapshots service's methods the collector calls, as a proxy serves them. */
export interface SnapshotBackendsProxy {
  backendNames(): Promise<string[]>;
  removeBackend(snapshotter: string, backendName: string): Promise<void>;
  walkBackend(snapshotter: string): AsyncIterable<BackendEntry> | Promise<AsyncIterable<BackendEntry>>;
  cleanupBackend(snapshotter: string): Promise<void>;
}

/** plugins/gc's SnapshotterBackend, and the backend's deferred cleanup for the collector to run
 *  after it removed snapshots (containerd's garbageCollect calls the snapshotter's Cleanup). */
export type CollectableSnapshotter = SnapshotterBackend & { cleanup(): Promise<void> };

/** One SnapshotterBackend per loaded snapshotter, by name. */
export async function snapshotterBackends(
  proxy: SnapshotBackendsProxy,
): Promise<Record<string, CollectableSnapshotter>> {
  const out: Record<string, CollectableSnapshotter> = {};
  for (const name of await proxy.backendNames()) out[name] = snapshotterBackend(proxy, name);
  return out;
}

export function snapshotterBackend(proxy: SnapshotBackendsProxy, name: string): CollectableSnapshotter {
  return {
    remove: (backendName) => proxy.removeBackend(name, backendName),
    cleanup: () => proxy.cleanupBackend(name),
    async *walk() {
      for await (const entry of await proxy.walkBackend(name)) yield entry;
    },
  };
}
