/** Snapshots: the namespaced snapshotters over the backend ones (overlayfs, native), the
 *  containerd.services.snapshots.v1 adapter, and what the collector needs of the backends. */
export {
  type CollectableSnapshotter,
  type SnapshotBackendsProxy,
  snapshotterBackend,
  snapshotterBackends,
} from "./gc-backend.ts";
export { SNAPSHOTTER_WORKER, SNAPSHOTTERS, snapshotsGrpc, snapshotsService } from "./plugin.ts";
export { snapshotsService as snapshotsHandlers } from "./service.ts";
export type { Info, Labels, Mount, SnapshotKind, Snapshotter, Usage } from "./snapshotter.ts";
export { inheritedLabels } from "./snapshotter.ts";
export { type BackendEntry, SnapshotsService } from "./snapshotters.ts";
export {
  type CreateOptions,
  NamespacedSnapshotter,
  overlayInfo,
  type Records,
  type Scope,
  type SnapshotInfo,
} from "./store.ts";
