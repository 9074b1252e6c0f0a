/** Backend cleanup, after the records are gone: containerd's `contentStore.garbageCollect` and
 *  `snapshotter.garbageCollect` (metadata/content.go, metadata/snapshot.go). The blobs and
 *  snapshots live in other workers, so they are reached through the small interfaces below.
 *
 *  A blob is removed when no namespace records its digest (nor expects it from an ingest);
 *  a snapshot when no namespace records its backend name for that snapshotter. Records are
 *  re-read under the exclusive backend lock, so a writer that committed a blob and is about to
 *  record it (holding the lock shared) is waited for, never raced.
 *
 *  A backend that can be walked (`listBlobs`, a snapshotter's `walk`) is compared whole against
 *  the records, as containerd does; that also finds what a crash between the record transaction
 *  and the backend deletion left behind. One that cannot be walked is given the candidates:
 *  what this collection swept and what callers reported deleted.
 *
 *  The content store commits in its own worker, blob first and record a port round trip later,
 *  outside this lock. So before each blob deletion the records are asked again, and a walked blob
 *  that no record ever named (not a candidate) is left alone while younger than
 *  `ORPHAN_GRACE_MS`: it may be a commit whose record is on its way. */
import { type Logger, Kind, toBunkerError } from "@bunkerd/plugin-api";
import { eq, sql } from "drizzle-orm";
import { type MetadataDb, read, schema } from "../metadata/index.ts";
import { backendLock } from "./lock.ts";

/** How long a blob no record names is given for its record to arrive. */
export const ORPHAN_GRACE_MS = 10_000;

/** A blob as the content store lists it: its digest, and when it was committed if known. */
export type BlobEntry = string | { digest: string; createdAt?: Date };

export interface ContentBackend {
  /** Removes a blob from the content store; NotFound is fine. */
  deleteBlob(digest: string): Promise<void>;
  /** Every blob in the content store. */
  listBlobs?(): AsyncIterable<BlobEntry>;
  /** Drops a partial write by the ref the content store knows it by; NotFound is fine. */
  abortIngest(backendRef: string): Promise<void>;
}

export interface SnapshotterBackend {
  /** Removes a snapshot by its backend name; the snapshotter refuses one with children. */
  remove(backendKey: string): Promise<void>;
  /** Frees what removals left for later (overlayfs removes directories lazily). */
  cleanup?(): Promise<void>;
  /** Every snapshot the snapshotter holds, by backend name, with its parent's backend name. */
  walk?(): AsyncIterable<{ name: string; parent?: string }>;
}

export interface Backends {
  /** Absent: blobs and ingests are left alone (the records are still collected). */
  content?: ContentBackend;
  /** By snapshotter name; a snapshotter not here keeps its snapshots until it is. */
  snapshotters?: Record<string, SnapshotterBackend>;
}

/** A removal outside the collector whose backend object the next collection must clean up:
 *  a content record deleted through the API (its digest), a snapshot record removed (its
 *  snapshotter, and the backend name when known). */
export type Deletion = { content: string } | { snapshotter: string; backendName?: string };

/** Which backends need cleaning, beyond what a collection itself sweeps: containerd's
 *  `dirtyCS` / `dirtySS` flags, with the names for backends that cannot be walked. */
export interface Dirty {
  /** Every backend: after a restart, when nothing says what a crash may have left behind. */
  all: boolean;
  /** Content digests whose records were deleted (empty set: the store is dirty, names unknown). */
  content?: Set<string>;
  /** Snapshotter → backend names whose records were removed. */
  snapshotters: Map<string, Set<string>>;
}

export const notDirty = (): Dirty => ({ all: false, snapshotters: new Map() });

/** Records a deletion in `dirty`; no deletion named means "anything may have changed". */
export function addDeletion(dirty: Dirty, d?: Deletion): void {
  if (!d) dirty.all = true;
  else if ("content" in d) {
    dirty.content ??= new Set();
    dirty.content.add(d.content);
  } else {
    const names = dirty.snapshotters.get(d.snapshotter) ?? new Set<string>();
    dirty.snapshotters.set(d.snapshotter, names);
    if (d.backendName) names.add(d.backendName);
  }
}

/** Merges `from` into `into` (a failed collection hands its dirt to the next one). */
export function mergeDirty(into: Dirty, from: Dirty): void {
  into.all ||= from.all;
  if (from.content) {
    into.content ??= new Set();
    for (const d of from.content) into.content.add(d);
  }
  for (const [snapshotter, names] of from.snapshotters) {
    addDeletion(into, { snapshotter });
    for (const backendName of names) addDeletion(into, { snapshotter, backendName });
  }
}

/** What the record sweep removed, as the backends know it. */
export interface Swept {
  digests: Set<string>;
  ingestRefs: Set<string>;
  /** Snapshotter → removed backend names, children before parents. */
  snapshots: Map<string, string[]>;
}

/** What the cleanup did, for the log. */
export interface CleanupCounts {
  blobs: number;
  /** Unnamed blobs younger than the grace period, left for a later walk. */
  young: number;
  aborted: number;
  removedSnapshots: number;
  failures: number;
}

export async function cleanBackends(
  db: MetadataDb,
  backends: Backends,
  swept: Swept,
  dirty: Dirty,
  log?: Logger,
): Promise<CleanupCounts> {
  const counts: CleanupCounts = { blobs: 0, young: 0, aborted: 0, removedSnapshots: 0, failures: 0 };
  const contentDirty =
    dirty.all || dirty.content !== undefined || swept.digests.size > 0 || swept.ingestRefs.size > 0;
  const snapshotters = new Set([...swept.snapshots.keys(), ...dirty.snapshotters.keys()]);
  if (dirty.all) for (const name of Object.keys(backends.snapshotters ?? {})) snapshotters.add(name);
  if (!contentDirty && snapshotters.size === 0) return counts;

  await backendLock(db).exclusive(async () => {
    if (contentDirty && backends.content) {
      log?.debug("schedule content cleanup");
      await cleanContent(db, backends.content, swept, dirty, counts, log);
    }
    for (const name of snapshotters) {
      const backend = backends.snapshotters?.[name];
      if (!backend) {
        log?.debug("no snapshotter to clean up", { snapshotter: name });
        continue;
      }
      log?.debug("schedule snapshotter cleanup", { snapshotter: name });
      const candidates = [...(swept.snapshots.get(name) ?? []), ...(dirty.snapshotters.get(name) ?? [])];
      await cleanSnapshotter(db, name, backend, candidates, counts, log);
    }
  });
  return counts;
}

async function cleanContent(
  db: MetadataDb,
  store: ContentBackend,
  swept: Swept,
  dirty: Dirty,
  counts: CleanupCounts,
  log?: Logger,
) {
  const { content, ingests } = schema;
  const readAt = Date.now();
  const { seen, refs } = read(db, (tx) => {
    const seen = new Set(
      tx
        .selectDistinct({ digest: content.digest })
        .from(content)
        .all()
        .map((r) => r.digest),
    );
    const refs = new Set<string>();
    for (const r of tx.select({ expected: ingests.expected, ref: ingests.backendRef }).from(ingests).all()) {
      // An ingest's expected blob may be recorded only in another namespace: keep it for the ingest.
      if (r.expected) seen.add(r.expected);
      refs.add(r.ref);
    }
    return { seen, refs };
  });

  const candidates = new Set([...swept.digests, ...(dirty.content ?? [])]);
  const remove = async (digest: string) => {
    if (seen.has(digest) || recorded(db, digest)) return;
    if (await attempt(() => store.deleteBlob(digest), "failed to remove content", { digest }, counts, log)) {
      counts.blobs++;
      log?.debug("removed content", { digest });
    }
  };
  if (store.listBlobs) {
    try {
      for await (const entry of store.listBlobs()) {
        const { digest, createdAt } = typeof entry === "string" ? { digest: entry } : entry;
        if (seen.has(digest)) continue;
        if (!candidates.has(digest) && createdAt && createdAt.getTime() > readAt - ORPHAN_GRACE_MS) {
          counts.young++;
          continue;
        }
        await remove(digest);
      }
    } catch (e) {
      counts.failures++;
      log?.warn("content garbage collection failed", { error: toBunkerError(e).message });
    }
  } else {
    for (const digest of candidates) await remove(digest);
  }

  for (const ref of swept.ingestRefs) {
    if (refs.has(ref)) continue;
    if (await attempt(() => store.abortIngest(ref), "failed to abort ingest", { ref }, counts, log)) {
      counts.aborted++;
      log?.debug("cleanup aborting ingest", { ref });
    }
  }
}

/** Whether any namespace records the digest now, or an ingest expects it. */
function recorded(db: MetadataDb, digest: string): boolean {
  const { content, ingests } = schema;
  return read(
    db,
    (tx) =>
      tx.select({ one: sql`1` }).from(content).where(eq(content.digest, digest)).limit(1).get() !==
        undefined ||
      tx.select({ one: sql`1` }).from(ingests).where(eq(ingests.expected, digest)).limit(1).get() !==
        undefined,
  );
}

async function cleanSnapshotter(
  db: MetadataDb,
  name: string,
  backend: SnapshotterBackend,
  candidates: string[],
  counts: CleanupCounts,
  log?: Logger,
) {
  const { snapshots } = schema;
  const seen = new Set(
    read(db, (tx) =>
      tx
        .selectDistinct({ name: snapshots.backendName })
        .from(snapshots)
        .where(eq(snapshots.snapshotter, name))
        .all()
        .map((r) => r.name),
    ),
  );
  let order: string[];
  if (backend.walk) {
    try {
      order = await prunable(backend.walk(), seen);
    } catch (e) {
      counts.failures++;
      log?.warn("snapshot garbage collection failed", { snapshotter: name, error: toBunkerError(e).message });
      return;
    }
  } else {
    order = [...new Set(candidates)].filter((n) => !seen.has(n));
  }

  // Children go first; a snapshotter refuses a parent that still has children, so what it
  // refused is tried again after the rest, until a round removes nothing more.
  let pending = order;
  while (pending.length > 0) {
    const refused: string[] = [];
    for (const key of pending) {
      try {
        await backend.remove(key);
        counts.removedSnapshots++;
        log?.debug("removed snapshot", { snapshotter: name, key });
      } catch (e) {
        const err = toBunkerError(e);
        if (err.kind === Kind.NotFound) continue;
        if (err.kind === Kind.FailedPrecondition) refused.push(key);
        else {
          counts.failures++;
          log?.warn("failed to remove snapshot", { snapshotter: name, key, error: err.message });
        }
      }
    }
    if (refused.length === pending.length) {
      counts.failures += refused.length;
      for (const key of refused) log?.warn("failed to remove snapshot", { snapshotter: name, key });
      break;
    }
    pending = refused;
  }
  // containerd's garbageCollect ends with the snapshotter's Cleanup when it removed something.
  if (order.length > 0 && backend.cleanup) {
    await backend
      .cleanup()
      .catch((e) =>
        log?.warn("snapshotter cleanup failed", { snapshotter: name, error: toBunkerError(e).message }),
      );
  }
}

/** containerd's `walkTree` + `pruneBranch`: the snapshots no record names, children first. */
async function prunable(walk: AsyncIterable<{ name: string; parent?: string }>, seen: Set<string>) {
  const children = new Map<string, string[]>();
  const roots: string[] = [];
  const all = new Set<string>();
  for await (const info of walk) {
    all.add(info.name);
    if (!info.parent) roots.push(info.name);
    else {
      const list = children.get(info.parent);
      if (list) list.push(info.name);
      else children.set(info.parent, [info.name]);
    }
  }
  // A snapshot whose parent the walk did not list is pruned as a root of its own.
  for (const [parent, kids] of children) if (!all.has(parent)) roots.push(...kids);
  const out: string[] = [];
  const visited = new Set<string>();
  const prune = (node: string) => {
    // Iterative post-order: snapshot chains can be deeper than the call stack is comfortable with.
    const stack: [string, boolean][] = [[node, false]];
    while (stack.length > 0) {
      const [n, expanded] = stack.pop()!;
      if (expanded) {
        if (!seen.has(n)) out.push(n);
        continue;
      }
      if (visited.has(n)) continue;
      visited.add(n);
      stack.push([n, true]);
      for (const kid of children.get(n) ?? []) stack.push([kid, false]);
    }
  };
  for (const r of roots) prune(r);
  return out;
}

async function attempt(
  fn: () => Promise<void>,
  what: string,
  fields: Record<string, string>,
  counts: CleanupCounts,
  log?: Logger,
): Promise<boolean> {
  try {
    await fn();
    return true;
  } catch (e) {
    const err = toBunkerError(e);
    if (err.kind === Kind.NotFound) return false;
    counts.failures++;
    log?.warn(what, { ...fields, error: err.message });
    return false;
  }
}
