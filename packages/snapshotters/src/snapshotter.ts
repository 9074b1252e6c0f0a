/** The snapshotter interface in containerd's terms (snapshots/snapshotter.go).
 *
 *  A snapshot is a filesystem tree a container or an unpacking layer works on. An *active*
 *  snapshot (made by `prepare`) is writable; a *view* (made by `view`) is read-only; `commit`
 *  turns an active snapshot into a *committed* one, which can only be a parent. Keys name active
 *  snapshots and views, names name committed ones; they share one namespace per snapshotter.
 *
 *  Every method is async and takes and returns plain data: the snapshotter lives in its own
 *  worker and is called through a port. `walk` is an async iterable, which the port streams. */

/** What a snapshot is: `active` (writable), `view` (read-only) or `committed` (a parent). */
export type SnapshotKind = "active" | "view" | "committed";

export const SNAPSHOT_KINDS: readonly SnapshotKind[] = ["active", "view", "committed"];

export interface SnapshotInfo {
  /** The key of an active snapshot or view, the name of a committed one. */
  name: string;
  /** The committed snapshot this one is based on; absent for a base snapshot. */
  parent?: string;
  kind: SnapshotKind;
  labels: Record<string, string>;
  created: Date;
  updated: Date;
}

/** containerd's name for the same record. */
export type Info = SnapshotInfo;

/** A mount as containerd returns it: what `mount -t <type> <source> <target> -o <options>` does. */
export interface Mount {
  type: string;
  source: string;
  /** Where it goes below the rootfs; containerd's snapshotters never set it. */
  target?: string;
  options: string[];
}

/** Disk use of a snapshot: bytes of blocks allocated (`st_blocks * 512`) and distinct inodes. */
export interface Usage {
  size: number;
  inodes: number;
}

export interface SnapshotOptions {
  labels?: Record<string, string>;
}

export interface Snapshotter {
  /** The info of a snapshot by key or name. NotFound when there is none. */
  stat(key: string): Promise<SnapshotInfo>;
  /** Replaces the labels (`fieldpaths` empty), or the ones named as `labels` / `labels.<key>`.
   *  Any other field path is InvalidArgument; a label set to "" is removed. */
  update(info: SnapshotInfo, fieldpaths?: string[]): Promise<SnapshotInfo>;
  /** Disk use: measured for an active snapshot, recorded at commit for a committed one, zero for a view. */
  usage(key: string): Promise<Usage>;
  /** The mounts of an active snapshot or a view. FailedPrecondition for a committed one. */
  mounts(key: string): Promise<Mount[]>;
  /** A writable snapshot on top of `parent` (a committed snapshot), and how to mount it. */
  prepare(key: string, parent?: string, opts?: SnapshotOptions): Promise<Mount[]>;
  /** A read-only snapshot of `parent`, and how to mount it. */
  view(key: string, parent?: string, opts?: SnapshotOptions): Promise<Mount[]>;
  /** Turns the active snapshot `key` into the committed snapshot `name`; `key` goes away.
   *  The labels are replaced by `opts.labels`, not inherited. */
  commit(name: string, key: string, opts?: SnapshotOptions): Promise<void>;
  /** Removes a snapshot. FailedPrecondition while it has children. */
  remove(key: string): Promise<void>;
  /** Every snapshot matching one of the filters (containerd's syntax: `name`, `parent`, `kind`,
   *  `labels.<key>`), in name order. */
  walk(filters?: string[]): AsyncIterable<SnapshotInfo>;
  /** Removes what removed snapshots left on disk (containerd's `Cleaner`). */
  cleanup?(): Promise<void>;
  /** Closes the metadata store. Closing twice is fine. */
  close(): Promise<void>;
}
