/** Test helpers for the collector: records inserted straight into an in-memory database, fake
 *  backends that record their calls, and a view of what is left. */
import { BunkerError, Kind, type Logger } from "@bunkerd/plugin-api";
import { type Labels, type MetadataDb, openMetadata, schema, write } from "../metadata/index.ts";
import type { ContentBackend, SnapshotterBackend } from "./backends.ts";

const { containers, content, images, ingests, leaseResources, leases, namespaces, snapshots } = schema;

export const HOUR = 3_600_000;
/** An RFC 3339 time `ms` from now, at second precision as Go's `time.RFC3339` prints it. */
export const rfc3339In = (ms: number) => new Date(Date.now() + ms).toISOString().replace(/\.\d+Z$/, "Z");

export const digest = (n: number | string) => `sha256:${String(n).padStart(64, "0")}`;

/** A database with a fluent way to put records in it. */
export function seed(db: MetadataDb = openMetadata(":memory:")) {
  const seen = new Set<string>();
  const ns = (name: string) => {
    if (seen.has(name)) return;
    seen.add(name);
    write(db, (tx) => tx.insert(namespaces).values({ name }).onConflictDoNothing().run());
  };
  const s = {
    db,
    content(namespace: string, dgst: string, labels: Labels = {}) {
      ns(namespace);
      write(db, (tx) => tx.insert(content).values({ namespace, digest: dgst, size: 1, labels }).run());
      return s;
    },
    image(namespace: string, name: string, target: string, labels: Labels = {}) {
      ns(namespace);
      write(db, (tx) =>
        tx
          .insert(images)
          .values({
            namespace,
            name,
            targetDigest: target,
            targetMediaType: "application/vnd.oci.image.index.v1+json",
            targetSize: 1,
            labels,
          })
          .run(),
      );
      return s;
    },
    container(
      namespace: string,
      id: string,
      opts: { snapshotter?: string; snapshotKey?: string; labels?: Labels } = {},
    ) {
      ns(namespace);
      write(db, (tx) =>
        tx
          .insert(containers)
          .values({
            namespace,
            id,
            runtimeName: "io.containerd.runc.v2",
            spec: Buffer.alloc(0),
            snapshotter: opts.snapshotter ?? "",
            snapshotKey: opts.snapshotKey ?? "",
            labels: opts.labels ?? {},
          })
          .run(),
      );
      return s;
    },
    snapshot(
      namespace: string,
      snapshotter: string,
      key: string,
      opts: { parent?: string; labels?: Labels; backendName?: string } = {},
    ) {
      ns(namespace);
      write(db, (tx) =>
        tx
          .insert(snapshots)
          .values({
            namespace,
            snapshotter,
            key,
            backendName: opts.backendName ?? `${namespace}/${key}`,
            parent: opts.parent ?? null,
            kind: "committed",
            labels: opts.labels ?? {},
          })
          .run(),
      );
      return s;
    },
    ingest(
      namespace: string,
      ref: string,
      opts: { backendRef?: string; expiresAt?: Date; expected?: string } = {},
    ) {
      ns(namespace);
      write(db, (tx) =>
        tx
          .insert(ingests)
          .values({
            namespace,
            ref,
            backendRef: opts.backendRef ?? `${namespace}-${ref}`,
            expiresAt: opts.expiresAt ?? null,
            expected: opts.expected ?? null,
          })
          .run(),
      );
      return s;
    },
    /** A lease and its resources: [type, id], type "content" | "ingests" | "snapshots/<name>". */
    lease(namespace: string, id: string, labels: Labels = {}, resources: [string, string][] = []) {
      ns(namespace);
      write(db, (tx) => {
        tx.insert(leases).values({ namespace, id, labels }).run();
        for (const [type, rid] of resources) {
          tx.insert(leaseResources).values({ namespace, lease: id, type, id: rid }).run();
        }
      });
      return s;
    },
  };
  return s;
}

/** What is left, as sorted "namespace/…" strings. */
export function left(db: MetadataDb) {
  const sorted = (xs: string[]) => xs.sort();
  return {
    content: sorted(
      db
        .select()
        .from(content)
        .all()
        .map((r) => `${r.namespace}/${r.digest}`),
    ),
    snapshots: sorted(
      db
        .select()
        .from(snapshots)
        .all()
        .map((r) => `${r.namespace}/${r.snapshotter}/${r.key}`),
    ),
    ingests: sorted(
      db
        .select()
        .from(ingests)
        .all()
        .map((r) => `${r.namespace}/${r.ref}`),
    ),
    leases: sorted(
      db
        .select()
        .from(leases)
        .all()
        .map((r) => `${r.namespace}/${r.id}`),
    ),
    leaseResources: db.select().from(leaseResources).all().length,
  };
}

export type Call = [op: string, arg: string];

/** A content store holding `blobs`, recording deleteBlob/abortIngest calls. Blobs listed in
 *  `committedAt` are walked with that commit time; `onWalk` runs as each blob is reached. */
export function fakeContent(
  blobs: Iterable<string> = [],
  opts: {
    walk?: boolean;
    fail?: Set<string>;
    committedAt?: Record<string, Date>;
    onWalk?: (digest: string) => void;
  } = {},
) {
  const calls: Call[] = [];
  const store = new Set(blobs);
  const backend: ContentBackend = {
    async deleteBlob(d) {
      calls.push(["deleteBlob", d]);
      if (opts.fail?.has(d)) throw new Error(`disk on fire: ${d}`);
      if (!store.delete(d)) throw new BunkerError(Kind.NotFound, `content digest ${d}`);
    },
    async abortIngest(ref) {
      calls.push(["abortIngest", ref]);
    },
  };
  if (opts.walk !== false) {
    backend.listBlobs = async function* () {
      for (const d of [...store]) {
        opts.onWalk?.(d);
        const createdAt = opts.committedAt?.[d];
        yield createdAt ? { digest: d, createdAt } : d;
      }
    };
  }
  return { backend, calls, blobs: store };
}

/** A snapshotter holding `names` (name → parent), refusing to remove a parent with children. */
export function fakeSnapshotter(
  names: Record<string, string | undefined> = {},
  opts: { walk?: boolean } = {},
) {
  const calls: Call[] = [];
  const held = new Map(Object.entries(names));
  const backend: SnapshotterBackend = {
    async remove(name) {
      calls.push(["remove", name]);
      if (!held.has(name)) throw new BunkerError(Kind.NotFound, `snapshot ${name}`);
      if ([...held.values()].includes(name))
        throw new BunkerError(Kind.FailedPrecondition, `snapshot ${name} has children`);
      held.delete(name);
    },
  };
  if (opts.walk) {
    backend.walk = async function* () {
      for (const [name, parent] of [...held]) yield { name, parent };
    };
  }
  return { backend, calls, held };
}

/** A logger that keeps what it is given. */
export function memoryLog() {
  const lines: { level: string; msg: string; fields?: Record<string, unknown> }[] = [];
  const at =
    (level: string) =>
    (...a: unknown[]) => {
      const last = a[a.length - 1];
      const fields =
        typeof last === "object" && last !== null ? (a.pop() as Record<string, unknown>) : undefined;
      lines.push({ level, msg: a.map(String).join(" "), fields });
    };
  const log: Logger = {
    trace: at("trace"),
    debug: at("debug"),
    info: at("info"),
    warn: at("warn"),
    error: at("error"),
  };
  return { log, lines };
}
