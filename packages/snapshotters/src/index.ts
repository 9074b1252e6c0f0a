/** @bunkerd/snapshotters: the snapshotter interface, its overlayfs and native implementations,
 *  the mount helper that mounts what they return, and the suite each must pass. Plugin records
 *  are in the `./plugin` subpath (cheap to import on the host's main thread). */

// ── The interface ───────────────────────────────────────────────────────────────────────
export type {
  Info,
  Mount,
  SnapshotInfo,
  SnapshotKind,
  SnapshotOptions,
  Snapshotter,
  Usage,
} from "./snapshotter.ts";
export { SNAPSHOT_KINDS } from "./snapshotter.ts";

// ── Implementations ─────────────────────────────────────────────────────────────────────
export { type NativeOptions, NativeSnapshotter } from "./native/index.ts";
export {
  needsUserXAttr,
  type OverlayOptions,
  OverlaySnapshotter,
  overlaySupport,
  supportsIndex,
  UPPERDIR_LABEL,
} from "./overlay/index.ts";

// ── Mounting ────────────────────────────────────────────────────────────────────────────
export {
  compactLowerdirOption,
  linuxMounter,
  type Mounter,
  MountError,
  type MountInfoEntry,
  mount,
  mountAll,
  mountInfo,
  mountPointsUnder,
  parseMountOptions,
  unmount,
  unmountAll,
  unmountUnder,
} from "./mount.ts";

// ── For other bunkerd packages only ─────────────────────────────────────────────────────
export { MetaStore, type StoredSnapshot } from "./storage/index.ts";
export { diskUsage } from "./usage.ts";
export { type OpenSnapshotter, type SuiteOptions, snapshotterSuite } from "./testsuite/index.ts";
