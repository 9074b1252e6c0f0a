/** One garbage collection: containerd 1.6's `DB.GarbageCollect` (metadata/db.go).
 *
 *  Mark and sweep run in one synchronous write transaction, so nothing changes between them
 *  (containerd holds `wlock` for the same reason). The sweep removes, per namespace, expired
 *  leases (their resource rows go with them), unmarked snapshot records (children before
 *  parents), unmarked ingests and unmarked content records. Backend objects are removed after
 *  the commit: a crash in between leaves orphans, which a later collection that walks the
 *  backends finds (see backends.ts). Images are never collected in containerd 1.6. */
import type { Logger } from "@bunkerd/plugin-api";
import { and, eq, sql } from "drizzle-orm";
import { type MetadataDb, type MetadataTx, schema, write } from "../metadata/index.ts";
import { type Backends, cleanBackends, type Dirty, notDirty, type Swept } from "./backends.ts";
import {
  contentId,
  type Graph,
  ingestId,
  leaseId,
  loadGraph,
  type Marked,
  mark,
  snapshotId,
} from "./mark.ts";

/** Records removed by one collection, and how long the records were locked for it. */
export interface Stats {
  content: number;
  snapshots: number;
  ingests: number;
  leases: number;
  /** Always 0: containerd 1.6 does not collect images. */
  images: number;
  /** The mark-and-sweep transaction: containerd's `MetaD`, what the pause threshold weighs. */
  durationMs: number;
}

export interface CollectOptions {
  /** The time leases and ingests expire against; now by default. */
  now?: Date;
  log?: Logger;
  /** Backends to clean beyond what this collection sweeps. */
  dirty?: Dirty;
}

/** Collects everything no root reaches, then cleans the backends of what no record names. */
export async function collect(
  db: MetadataDb,
  backends: Backends = {},
  opts: CollectOptions = {},
): Promise<Stats> {
  const { log } = opts;
  const now = (opts.now ?? new Date()).getTime();
  const t0 = performance.now();
  const { counts, swept } = write(db, (tx) => {
    const graph = loadGraph(tx);
    return sweep(tx, graph, mark(graph, now, log), log);
  });
  const durationMs = performance.now() - t0;

  const t1 = performance.now();
  const cleanup = await cleanBackends(db, backends, swept, opts.dirty ?? notDirty(), log);
  const stats: Stats = { ...counts, images: 0, durationMs };
  log?.debug("garbage collected", {
    d: formatMs(durationMs),
    ...counts,
    ...cleanup,
    backendD: formatMs(performance.now() - t1),
  });
  return stats;
}

type Counts = Pick<Stats, "content" | "snapshots" | "ingests" | "leases">;

/** containerd's `scanAll` + `remove`: deletes every record the mark did not reach. */
function sweep(tx: MetadataTx, g: Graph, marked: Marked, log?: Logger): { counts: Counts; swept: Swept } {
  const { content, ingests, leases, snapshots } = schema;
  const counts: Counts = { content: 0, snapshots: 0, ingests: 0, leases: 0 };
  const swept: Swept = { digests: new Set(), ingestRefs: new Set(), snapshots: new Map() };
  // Prepared once: a sweep may remove thousands of rows, and building each query costs more
  // than running it.
  const $ = (name: string) => sql.placeholder(name);
  const deleteLease = tx
    .delete(leases)
    .where(and(eq(leases.namespace, $("ns")), eq(leases.id, $("id"))))
    .prepare();
  const deleteSnapshot = tx
    .delete(snapshots)
    .where(
      and(eq(snapshots.namespace, $("ns")), eq(snapshots.snapshotter, $("ss")), eq(snapshots.key, $("key"))),
    )
    .prepare();
  const deleteIngest = tx
    .delete(ingests)
    .where(and(eq(ingests.namespace, $("ns")), eq(ingests.ref, $("ref"))))
    .prepare();
  const deleteContent = tx
    .delete(content)
    .where(and(eq(content.namespace, $("ns")), eq(content.digest, $("digest"))))
    .prepare();

  for (const l of g.leases.values()) {
    if (marked.has(leaseId(l.namespace, l.id))) continue;
    deleteLease.run({ ns: l.namespace, id: l.id });
    log?.trace("remove lease", { namespace: l.namespace, lease: l.id });
    counts.leases++;
  }

  // A parent may be removed only after its children (the parent foreign key restricts it, as
  // the snapshotters do). What is unmarked is closed under "child of", so deepest first works.
  const depth = depths(g);
  const deadSnapshots = [...g.snapshots.entries()]
    .filter(([id]) => !marked.has(id))
    .sort(([a], [b]) => depth(b) - depth(a));
  for (const [, s] of deadSnapshots) {
    deleteSnapshot.run({ ns: s.namespace, ss: s.snapshotter, key: s.key });
    log?.trace("remove snapshot", { namespace: s.namespace, snapshotter: s.snapshotter, key: s.key });
    counts.snapshots++;
    const names = swept.snapshots.get(s.snapshotter);
    if (names) names.push(s.backendName);
    else swept.snapshots.set(s.snapshotter, [s.backendName]);
  }

  for (const i of g.ingests.values()) {
    if (marked.has(ingestId(i.namespace, i.ref))) continue;
    deleteIngest.run({ ns: i.namespace, ref: i.ref });
    log?.trace("remove ingest", { namespace: i.namespace, ref: i.ref });
    counts.ingests++;
    swept.ingestRefs.add(i.backendRef);
  }

  for (const c of g.content.values()) {
    if (marked.has(contentId(c.namespace, c.digest))) continue;
    deleteContent.run({ ns: c.namespace, digest: c.digest });
    log?.trace("remove content", { namespace: c.namespace, digest: c.digest });
    counts.content++;
    swept.digests.add(c.digest);
  }
  return { counts, swept };
}

/** A snapshot's distance from the base of its chain, memoised. */
function depths(g: Graph): (id: string) => number {
  const memo = new Map<string, number>();
  const depth = (id: string): number => {
    const known = memo.get(id);
    if (known !== undefined) return known;
    // Walk up to a known depth or the base, then fill in on the way down (no recursion: chains
    // of a few hundred layers exist).
    const chain: string[] = [];
    const onChain = new Set<string>();
    let at: string | undefined = id;
    let base = -1;
    while (at !== undefined) {
      const m = memo.get(at);
      if (m !== undefined) {
        base = m;
        break;
      }
      const row = g.snapshots.get(at);
      if (!row || onChain.has(at)) break;
      chain.push(at);
      onChain.add(at);
      at = row.parent ? snapshotId(row.namespace, row.snapshotter, row.parent) : undefined;
    }
    for (let i = chain.length - 1; i >= 0; i--) memo.set(chain[i]!, ++base);
    return memo.get(id) ?? 0;
  };
  return depth;
}

/** A duration as Go prints one in logs, close enough: "1.234ms", "2.5s". */
function formatMs(ms: number): string {
  if (ms < 1) return `${Math.round(ms * 1000)}µs`;
  if (ms < 1000) return `${Number(ms.toFixed(3))}ms`;
  return `${Number((ms / 1000).toFixed(3))}s`;
}
