/** The metadata store's schema: what containerd keeps in its bolt database
 *  (`metadata/buckets.go`), as SQLite tables. Every record below a namespace names it.
 *
 *  namespaces(name) labels
 *   ├─ images(namespace, name)                     target digest/media_type/size/annotations, labels
 *   ├─ containers(namespace, id)                   labels, image, runtime name/options, spec,
 *   │                                              snapshotter, snapshot_key, extensions, sandbox
 *   ├─ content(namespace, digest)                  size, labels                 (bolt: content/blob)
 *   ├─ ingests(namespace, ref)                     backend_ref, expires_at, expected
 *   ├─ snapshots(namespace, snapshotter, key)      backend_name, parent ─┐ kind, labels, pending
 *   │     └───────────── parent is another key ◀──────────────────────────┘
 *   ├─ snapshot_sequences(namespace, snapshotter)  sequence                     (bolt: the bucket's)
 *   └─ leases(namespace, id)                       labels
 *         └─ lease_resources(namespace, lease, type, id)
 *              type: "content" | "ingests" | "snapshots/<snapshotter>" (the Leases API's names)
 *
 *  Every record has created_at (and updated_at where it can change), in ms since the epoch.
 *  Labels are a JSON object of strings. Blobs (spec, runtime options) are protobuf-marshaled
 *  `google.protobuf.Any`, as containerd stores them.
 *
 *  Deleting a namespace: images, containers, content and snapshots keep it alive
 *  (ON DELETE RESTRICT, and the Namespaces service refuses first with containerd's message);
 *  leases, ingests and snapshot sequences go with it (ON DELETE CASCADE), as the bolt bucket's do.
 *
 *  Garbage collection walks from images, containers, leases and `gc.root` labels through the
 *  `GcLabel` references below.
 *
 *  Migrations are generated, never hand-written: after changing this file, from the repo root run
 *    bunx drizzle-kit generate --config apps/daemon/src/plugins/metadata/drizzle.config.ts
 *  and commit `migrations/`. `openMetadata` applies them. */
import { sql } from "drizzle-orm";
import { blob, foreignKey, index, integer, primaryKey, sqliteTable, text } from "drizzle-orm/sqlite-core";

export type Labels = Record<string, string>;

/** containerd's garbage-collection labels (containerd 1.6 `metadata/gc.go`). */
export const GcLabel = {
  /** Any value: the object is a root and is never collected. */
  root: "containerd.io/gc.root",
  /** Prefix, followed by the snapshotter name; the value is a snapshot key. */
  snapshotRef: "containerd.io/gc.ref.snapshot.",
  /** The label, or a prefix for many (`…content.config`, `…content.l.<n>`); value: a digest. */
  contentRef: "containerd.io/gc.ref.content",
  /** On a lease: RFC 3339 time after which the lease is dropped. */
  expire: "containerd.io/gc.expire",
  /** On a lease: hold the leased objects only, not what they reference. */
  flat: "containerd.io/gc.flat",
} as const;

const labels = () => text("labels", { mode: "json" }).$type<Labels>().notNull().default(sql`'{}'`);
const createdAt = () =>
  integer("created_at", { mode: "timestamp_ms" })
    .notNull()
    .$defaultFn(() => new Date());
const updatedAt = () =>
  integer("updated_at", { mode: "timestamp_ms" })
    .notNull()
    .$defaultFn(() => new Date());
/** The owning namespace: "restrict" records keep it from being deleted, "cascade" ones go with it. */
const namespace = (onDelete: "restrict" | "cascade") =>
  text("namespace")
    .notNull()
    .references(() => namespaces.name, { onDelete });

export const namespaces = sqliteTable("namespaces", {
  name: text("name").primaryKey(),
  labels: labels(),
  createdAt: createdAt(),
  updatedAt: updatedAt(),
});

export const images = sqliteTable(
  "images",
  {
    namespace: namespace("restrict"),
    name: text("name").notNull(),
    targetDigest: text("target_digest").notNull(),
    targetMediaType: text("target_media_type").notNull(),
    targetSize: integer("target_size").notNull(),
    /** The target descriptor's annotations (containerd 1.6 keeps them with the image). */
    targetAnnotations: text("target_annotations", { mode: "json" })
      .$type<Labels>()
      .notNull()
      .default(sql`'{}'`),
    labels: labels(),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [primaryKey({ columns: [t.namespace, t.name] }), index("images_target_digest").on(t.targetDigest)],
);

/** A container extension: a marshaled `google.protobuf.Any`, kept readable. */
export type ContainerExtension = { typeUrl: string; value: string /* base64 */ };

export const containers = sqliteTable(
  "containers",
  {
    namespace: namespace("restrict"),
    id: text("id").notNull(),
    labels: labels(),
    image: text("image").notNull().default(""),
    runtimeName: text("runtime_name").notNull(),
    runtimeOptions: blob("runtime_options", { mode: "buffer" }),
    spec: blob("spec", { mode: "buffer" }).notNull(),
    snapshotter: text("snapshotter").notNull().default(""),
    snapshotKey: text("snapshot_key").notNull().default(""),
    extensions: text("extensions", { mode: "json" })
      .$type<Record<string, ContainerExtension>>()
      .notNull()
      .default(sql`'{}'`),
    sandbox: text("sandbox").notNull().default(""),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [primaryKey({ columns: [t.namespace, t.id] })],
);

export const content = sqliteTable(
  "content",
  {
    namespace: namespace("restrict"),
    digest: text("digest").notNull(),
    size: integer("size").notNull(),
    labels: labels(),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  // A blob on disk is shared by every namespace that has a row for its digest.
  (t) => [primaryKey({ columns: [t.namespace, t.digest] }), index("content_digest").on(t.digest)],
);

/** A write in progress: the namespaced ref, and the ref the content store knows it by. */
export const ingests = sqliteTable(
  "ingests",
  {
    namespace: namespace("cascade"),
    ref: text("ref").notNull(),
    backendRef: text("backend_ref").notNull(),
    expiresAt: integer("expires_at", { mode: "timestamp_ms" }),
    expected: text("expected"),
    createdAt: createdAt(),
  },
  (t) => [primaryKey({ columns: [t.namespace, t.ref] })],
);

export type SnapshotKind = "view" | "active" | "committed";

/** A snapshot record whose backend operation is under way (snapshot-records.ts): hidden from the
 *  API until confirmed, yet naming its backend snapshot so the collector never removes it.
 *  `create`: a Prepare or View. `commit`: a Commit of `source` (backend `sourceBackend`), which
 *  took bolt's bucket sequence `sequence`. `lease`: the caller's, which holds the record. */
export type SnapshotPending =
  | { op: "create"; lease?: string }
  | { op: "commit"; source: string; sourceBackend: string; sequence: number; lease?: string };

export const snapshots = sqliteTable(
  "snapshots",
  {
    namespace: namespace("restrict"),
    snapshotter: text("snapshotter").notNull(),
    key: text("key").notNull(),
    /** The snapshot's name in the snapshotter, unique across namespaces. */
    backendName: text("backend_name").notNull(),
    /** The parent's key in this namespace and snapshotter. */
    parent: text("parent"),
    kind: text("kind").$type<SnapshotKind>().notNull(),
    labels: labels(),
    /** Set while the backend operation is under way; null once the record is confirmed. */
    pending: text("pending", { mode: "json" }).$type<SnapshotPending>(),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    primaryKey({ columns: [t.namespace, t.snapshotter, t.key] }),
    // containerd refuses to remove a snapshot that has children; so does the database.
    foreignKey({
      name: "snapshots_parent_fk",
      columns: [t.namespace, t.snapshotter, t.parent],
      foreignColumns: [t.namespace, t.snapshotter, t.key],
    }).onDelete("restrict"),
    index("snapshots_parent").on(t.namespace, t.snapshotter, t.parent),
    index("snapshots_backend_name").on(t.snapshotter, t.backendName),
  ],
);

/** The last backend-name sequence number given out per namespace and snapshotter: bolt's
 *  `NextSequence` on the snapshotter bucket, which outlives the snapshots in it, so a backend name
 *  (`<namespace>/<sequence>/<key>`) is never reused while the collector may still remove it. The
 *  row exists once the bucket would: a Commit in a namespace and snapshotter without one is
 *  refused as containerd refuses it. */
export const snapshotSequences = sqliteTable(
  "snapshot_sequences",
  {
    namespace: namespace("cascade"),
    snapshotter: text("snapshotter").notNull(),
    sequence: integer("sequence").notNull(),
  },
  (t) => [primaryKey({ columns: [t.namespace, t.snapshotter] })],
);

export const leases = sqliteTable(
  "leases",
  {
    namespace: namespace("cascade"),
    id: text("id").notNull(),
    labels: labels(),
    createdAt: createdAt(),
  },
  (t) => [primaryKey({ columns: [t.namespace, t.id] })],
);

export const leaseResources = sqliteTable(
  "lease_resources",
  {
    namespace: text("namespace").notNull(),
    lease: text("lease").notNull(),
    type: text("type").notNull(),
    id: text("id").notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.namespace, t.lease, t.type, t.id] }),
    foreignKey({
      name: "lease_resources_lease_fk",
      columns: [t.namespace, t.lease],
      foreignColumns: [leases.namespace, leases.id],
    }).onDelete("cascade"),
    index("lease_resources_resource").on(t.namespace, t.type, t.id),
  ],
);
