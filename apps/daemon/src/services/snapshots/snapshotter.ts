/** What the snapshots service needs of a backend snapshotter (overlayfs, native): the
 *  `Snapshotter` of @bunkerd/snapshotters, written out here until that package exports it. Keys
 *  are backend names (`<namespace>/<sequence>/<key>`); the backend knows nothing of namespaces.
 *  Through a plugin proxy every method returns a promise and `walk` a promised async iterable;
 *  callers here `await` both, so either form works. */

export type SnapshotKind = "active" | "view" | "committed";
export type Labels = Record<string, string>;

export interface Info {
  name: string;
  parent?: string;
  kind: SnapshotKind;
  labels: Labels;
  created: Date;
  updated: Date;
}

export interface Mount {
  type: string;
  source: string;
  target?: string;
  options: string[];
}

export interface Usage {
  size: number;
  inodes: number;
}

export interface Snapshotter {
  stat(key: string): Promise<Info>;
  update(info: { name: string; labels: Labels }, fieldpaths?: string[]): Promise<Info>;
  usage(key: string): Promise<Usage>;
  mounts(key: string): Promise<Mount[]>;
  prepare(key: string, parent?: string, opts?: { labels?: Labels }): Promise<Mount[]>;
  view(key: string, parent?: string, opts?: { labels?: Labels }): Promise<Mount[]>;
  commit(name: string, key: string, opts?: { labels?: Labels }): Promise<void>;
  remove(key: string): Promise<void>;
  walk(filters?: string[]): AsyncIterable<Info> | Promise<AsyncIterable<Info>>;
  cleanup?(): Promise<void>;
  close(): Promise<void>;
}

const INHERITED_PREFIX = "containerd.io/snapshot/";
const SNAPSHOT_REF = "containerd.io/snapshot.ref";

/** snapshots.FilterInheritedLabels: the labels the backend keeps too (`containerd.io/snapshot/…`
 *  and `containerd.io/snapshot.ref`); the rest live in the metadata records only. */
export function inheritedLabels(labels: Labels | undefined): Labels {
  const out = new Map<string, string>();
  for (const [k, v] of Object.entries(labels ?? {})) {
    if (k === SNAPSHOT_REF || k.startsWith(INHERITED_PREFIX)) out.set(k, v);
  }
  return Object.fromEntries(out);
}
