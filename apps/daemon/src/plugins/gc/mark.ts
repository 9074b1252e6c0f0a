/** The mark phase: containerd 1.6's `metadata/gc.go` (`scanRoots`, `references`) and
 *  `gc.Tricolor` over the SQLite records.
 *
 *  Nodes are content blobs, snapshots, ingests and leases, each in one namespace. Roots:
 *  - a lease that has not expired (`containerd.io/gc.expire`, RFC 3339; an unreadable value keeps
 *    the lease), with its content, snapshots and ingests — as "flat" nodes when the lease has
 *    `containerd.io/gc.flat`, which hold only the object itself and a snapshot's parents;
 *  - an image's target, and the `gc.ref.*` labels on the image;
 *  - an ingest with an expiry in the future (one without expiry is collected unless leased);
 *  - content and snapshots labelled `containerd.io/gc.root`;
 *  - a container's snapshot (its snapshotter + snapshot key) and the `gc.ref.*` labels on it.
 *  References: `gc.ref.content` / `gc.ref.content.<name>` / `gc.ref.content/<name>` labels name a
 *  digest, `gc.ref.snapshot.<snapshotter>` / `gc.ref.snapshot.<snapshotter>/<name>` labels name a
 *  snapshot key, a snapshot references its parent, an ingest its expected digest.
 *  A reference to a record that does not exist is followed no further ("dead edge"). */
import type { Logger } from "@bunkerd/plugin-api";
import { GcLabel, type Labels, type MetadataTx, schema } from "../metadata/index.ts";
import { parseRfc3339 } from "./rfc3339.ts";

const { containers, content, images, ingests, leaseResources, leases, snapshots } = schema;

/** A node to visit. Flat kinds mark the same records as their plain kinds, but follow fewer
 *  references (containerd's `resourceContentFlat`, `resourceSnapshotFlat`). */
type Node =
  | { kind: "content" | "contentFlat"; ns: string; digest: string }
  | { kind: "snapshot" | "snapshotFlat"; ns: string; snapshotter: string; key: string }
  | { kind: "ingest"; ns: string; ref: string }
  | { kind: "lease"; ns: string; id: string };

/** Identities of marked records, as `idOf` writes them; flat and plain marks are the same. */
export type Marked = Set<string>;

// NUL cannot appear in a namespace (an identifier) and does not appear in keys or digests.
export const contentId = (ns: string, digest: string) => `content\0${ns}\0${digest}`;
export const snapshotId = (ns: string, snapshotter: string, key: string) =>
  `snapshot\0${ns}\0${snapshotter}\0${key}`;
export const ingestId = (ns: string, ref: string) => `ingest\0${ns}\0${ref}`;
export const leaseId = (ns: string, id: string) => `lease\0${ns}\0${id}`;

function idOf(n: Node): string {
  switch (n.kind) {
    case "content":
    case "contentFlat":
      return contentId(n.ns, n.digest);
    case "snapshot":
    case "snapshotFlat":
      return snapshotId(n.ns, n.snapshotter, n.key);
    case "ingest":
      return ingestId(n.ns, n.ref);
    case "lease":
      return leaseId(n.ns, n.id);
  }
}

// Tricolor keeps plain and flat visits apart (a blob reached flat first must still have its
// labels followed when reached plainly), then marks both as the same record.
const visitId = (n: Node) => `${n.kind}\0${idOf(n)}`;

export type SnapshotRow = {
  namespace: string;
  snapshotter: string;
  key: string;
  backendName: string;
  parent: string | null;
  labels: Labels;
};
export type IngestRow = {
  namespace: string;
  ref: string;
  backendRef: string;
  expected: string | null;
  expiresAt: Date | null;
};

/** The records the collector reads, loaded once inside its transaction. The maps are keyed by
 *  the ids above; images, containers and lease resources only ever start a walk. */
export interface Graph {
  content: Map<string, { namespace: string; digest: string; labels: Labels }>;
  snapshots: Map<string, SnapshotRow>;
  ingests: Map<string, IngestRow>;
  leases: Map<string, { namespace: string; id: string; labels: Labels }>;
  leaseResources: { namespace: string; lease: string; type: string; id: string }[];
  images: { namespace: string; target: string; labels: Labels }[];
  containers: { namespace: string; snapshotter: string; snapshotKey: string; labels: Labels }[];
}

/** Reads every record the collector needs. */
export function loadGraph(tx: MetadataTx): Graph {
  const g: Graph = {
    content: new Map(),
    snapshots: new Map(),
    ingests: new Map(),
    leases: new Map(),
    leaseResources: [],
    images: [],
    containers: [],
  };
  for (const r of tx
    .select({ namespace: content.namespace, digest: content.digest, labels: content.labels })
    .from(content)
    .all())
    g.content.set(contentId(r.namespace, r.digest), r);
  for (const r of tx
    .select({
      namespace: snapshots.namespace,
      snapshotter: snapshots.snapshotter,
      key: snapshots.key,
      backendName: snapshots.backendName,
      parent: snapshots.parent,
      labels: snapshots.labels,
    })
    .from(snapshots)
    .all())
    g.snapshots.set(snapshotId(r.namespace, r.snapshotter, r.key), r);
  for (const r of tx
    .select({
      namespace: ingests.namespace,
      ref: ingests.ref,
      backendRef: ingests.backendRef,
      expected: ingests.expected,
      expiresAt: ingests.expiresAt,
    })
    .from(ingests)
    .all())
    g.ingests.set(ingestId(r.namespace, r.ref), r);
  for (const r of tx
    .select({ namespace: leases.namespace, id: leases.id, labels: leases.labels })
    .from(leases)
    .all())
    g.leases.set(leaseId(r.namespace, r.id), r);
  g.images = tx
    .select({ namespace: images.namespace, target: images.targetDigest, labels: images.labels })
    .from(images)
    .all();
  g.containers = tx
    .select({
      namespace: containers.namespace,
      snapshotter: containers.snapshotter,
      snapshotKey: containers.snapshotKey,
      labels: containers.labels,
    })
    .from(containers)
    .all();
  g.leaseResources = tx
    .select({
      namespace: leaseResources.namespace,
      lease: leaseResources.lease,
      type: leaseResources.type,
      id: leaseResources.id,
    })
    .from(leaseResources)
    .all();
  return g;
}

/** Marks every record reachable from a root at time `now` (ms since the epoch). */
export function mark(g: Graph, now: number, log?: Logger): Marked {
  return tricolor(roots(g, now, log), (n) => references(g, n));
}

function roots(g: Graph, now: number, log?: Logger): Node[] {
  const out: Node[] = [];
  const live = new Map<string, boolean>(); // lease id → flat
  for (const lease of g.leases.values()) {
    const expire = lease.labels[GcLabel.expire];
    if (expire !== undefined) {
      const at = parseRfc3339(expire);
      if (at === undefined) {
        // containerd: "label not used, log and continue to use lease".
        log?.info(`ignoring invalid expiration value ${JSON.stringify(expire)}`, {
          namespace: lease.namespace,
          lease: lease.id,
        });
      } else if (now > at) continue; // expired: not a root, swept below
    }
    out.push({ kind: "lease", ns: lease.namespace, id: lease.id });
    live.set(leaseId(lease.namespace, lease.id), lease.labels[GcLabel.flat] !== undefined);
  }
  for (const res of g.leaseResources) {
    const flat = live.get(leaseId(res.namespace, res.lease));
    if (flat === undefined) continue;
    const ns = res.namespace;
    if (res.type === "content") out.push({ kind: flat ? "contentFlat" : "content", ns, digest: res.id });
    else if (res.type === "ingests") out.push({ kind: "ingest", ns, ref: res.id });
    else if (res.type.startsWith("snapshots/")) {
      const snapshotter = res.type.slice("snapshots/".length);
      out.push({ kind: flat ? "snapshotFlat" : "snapshot", ns, snapshotter, key: res.id });
    }
  }
  for (const image of g.images) {
    out.push({ kind: "content", ns: image.namespace, digest: image.target });
    labelRefs(image.namespace, image.labels, out);
  }
  for (const ingest of g.ingests.values()) {
    const at = ingest.expiresAt?.getTime();
    if (at === undefined || now > at) continue;
    out.push({ kind: "ingest", ns: ingest.namespace, ref: ingest.ref });
  }
  for (const c of g.content.values()) {
    if (c.labels[GcLabel.root] !== undefined)
      out.push({ kind: "content", ns: c.namespace, digest: c.digest });
  }
  for (const c of g.containers) {
    if (c.snapshotter !== "") {
      out.push({ kind: "snapshot", ns: c.namespace, snapshotter: c.snapshotter, key: c.snapshotKey });
    }
    labelRefs(c.namespace, c.labels, out);
  }
  for (const s of g.snapshots.values()) {
    if (s.labels[GcLabel.root] !== undefined) {
      out.push({ kind: "snapshot", ns: s.namespace, snapshotter: s.snapshotter, key: s.key });
    }
  }
  return out;
}

function references(g: Graph, n: Node): Node[] {
  const out: Node[] = [];
  switch (n.kind) {
    case "content": {
      const row = g.content.get(contentId(n.ns, n.digest));
      if (row) labelRefs(n.ns, row.labels, out);
      break;
    }
    case "snapshot":
    case "snapshotFlat": {
      const row = g.snapshots.get(snapshotId(n.ns, n.snapshotter, n.key));
      if (!row) break;
      if (row.parent) out.push({ kind: n.kind, ns: n.ns, snapshotter: n.snapshotter, key: row.parent });
      if (n.kind === "snapshot") labelRefs(n.ns, row.labels, out);
      break;
    }
    case "ingest": {
      const expected = g.ingests.get(ingestId(n.ns, n.ref))?.expected;
      if (expected) out.push({ kind: "content", ns: n.ns, digest: expected });
      break;
    }
    // Flat content references nothing; leases are roots and reference nothing either.
  }
  return out;
}

/** The `gc.ref.content*` and `gc.ref.snapshot.*` labels of one record, as nodes. */
function labelRefs(ns: string, labels: Labels, out: Node[]) {
  const contentRef = GcLabel.contentRef;
  const snapshotRef = GcLabel.snapshotRef;
  for (const [key, value] of Object.entries(labels)) {
    if (key.startsWith(contentRef)) {
      // The label itself, or a named one: ".<name>" or "/<name>"; "…contentbad" is not a reference.
      const sep = key.charAt(contentRef.length);
      if (sep === "" || sep === "." || sep === "/") out.push({ kind: "content", ns, digest: value });
    } else if (key.startsWith(snapshotRef)) {
      const rest = key.slice(snapshotRef.length);
      const slash = rest.indexOf("/");
      const snapshotter = slash >= 0 ? rest.slice(0, slash) : rest;
      out.push({ kind: "snapshot", ns, snapshotter, key: value });
    }
  }
}

/** `gc.Tricolor`: a depth-first walk from the roots; returns what it reached. */
function tricolor(roots: Node[], refs: (n: Node) => Node[]): Marked {
  const gray = [...roots];
  const seen = new Set<string>();
  const reachable: Marked = new Set();
  while (gray.length > 0) {
    const n = gray.pop()!;
    const visit = visitId(n);
    if (seen.has(visit)) continue;
    seen.add(visit);
    for (const next of refs(n)) if (!seen.has(visitId(next))) gray.push(next);
    reachable.add(idOf(n));
  }
  return reachable;
}
