/** Garbage collection: containerd 1.6's mark-and-sweep over the metadata records, the cleanup of
 *  blobs and snapshots no record names, and the scheduler that decides when to run it. */
export {
  type BlobEntry,
  type Backends,
  type ContentBackend,
  type Deletion,
  type Dirty,
  notDirty,
  ORPHAN_GRACE_MS,
  type SnapshotterBackend,
} from "./backends.ts";
export { type CollectOptions, collect, type Stats } from "./collect.ts";
export {
  defaultConfig,
  type GcConfig,
  parseConfig,
  type SchedulerConfig,
  schedulerConfig,
} from "./config.ts";
export { backendLock, RWLock } from "./lock.ts";
export { type Clock, type Collector, GcScheduler } from "./scheduler.ts";
