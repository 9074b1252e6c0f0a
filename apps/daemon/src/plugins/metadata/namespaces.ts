/** The namespace store: containerd's `metadata/namespaces.go` over SQLite. Each function works
 *  inside a transaction the caller holds (see `write`/`read` in db.ts), so a service can make
 *  several calls and commit them as one change.
 *
 *  A namespace also comes into being when something is first stored in it (containerd creates
 *  the bucket on first write): other stores call `ensureNamespace` in their own transaction. */
import {
  BunkerError,
  alreadyExists,
  failedPrecondition,
  Kind,
  notFound,
  validateIdentifier,
} from "@bunkerd/plugin-api";
import { asc, eq, sql } from "drizzle-orm";
import type { MetadataTx } from "./db.ts";
import { containers, content, images, type Labels, namespaces, snapshots } from "./schema.ts";
import { goQuote, validateLabel } from "./validate.ts";

export type Namespace = { name: string; labels: Labels };

const LABELS_FIELD = "namespace.Labels";

/** The namespace's labels, or undefined when there is no such namespace. */
export function namespaceLabels(tx: MetadataTx, name: string): Labels | undefined {
  return tx.select({ labels: namespaces.labels }).from(namespaces).where(eq(namespaces.name, name)).get()
    ?.labels;
}

/** Every namespace, ordered by name byte by byte (SQLite's BINARY collation), as bolt lists them. */
export function listNamespaces(tx: MetadataTx): Namespace[] {
  return tx
    .select({ name: namespaces.name, labels: namespaces.labels })
    .from(namespaces)
    .orderBy(asc(namespaces.name))
    .all();
}

// Labels are edited as Maps and stored through Object.fromEntries, so that a label named
// "__proto__" is an ordinary label rather than an assignment to the object's prototype.

/** Creates a namespace. Labels with an empty value are not stored (an empty value is how a
 *  label is removed). Errors, in containerd's order: invalid name, invalid label, exists. */
export function createNamespace(tx: MetadataTx, name: string, labels: Labels, now = new Date()): void {
  validateIdentifier(name);
  for (const [k, v] of Object.entries(labels)) validateLabel(LABELS_FIELD, k, v);
  if (namespaceLabels(tx, name) !== undefined) throw alreadyExists(`namespace ${goQuote(name)}`);
  const stored = new Map<string, string>();
  for (const [k, v] of Object.entries(labels)) {
    requireKey(k);
    if (v !== "") stored.set(k, v);
  }
  tx.insert(namespaces)
    .values({ name, labels: Object.fromEntries(stored), createdAt: now, updatedAt: now })
    .run();
}

/** Makes sure the namespace exists, creating it without labels if need be. True if created. */
export function ensureNamespace(tx: MetadataTx, name: string, now = new Date()): boolean {
  if (namespaceLabels(tx, name) !== undefined) return false;
  validateIdentifier(name);
  tx.insert(namespaces).values({ name, labels: {}, createdAt: now, updatedAt: now }).run();
  return true;
}

/** Sets one label, or removes it when `value` is empty. Like containerd, this creates the
 *  namespace if it does not exist yet. */
export function setNamespaceLabel(
  tx: MetadataTx,
  name: string,
  key: string,
  value: string,
  now = new Date(),
) {
  validateLabel(LABELS_FIELD, key, value);
  ensureNamespace(tx, name, now);
  const labels = new Map(Object.entries(namespaceLabels(tx, name) ?? {}));
  if (value === "") labels.delete(key);
  else {
    requireKey(key);
    labels.set(key, value);
  }
  tx.update(namespaces)
    .set({ labels: Object.fromEntries(labels), updatedAt: now })
    .where(eq(namespaces.name, name))
    .run();
}

/** What the namespace still holds, in containerd's words and order: "images", "blobs",
 *  "containers", then `snapshots on "<name>" snapshotter` for each snapshotter. Leases and
 *  ingests do not count: they are deleted with the namespace. */
export function namespaceContents(tx: MetadataTx, name: string): string[] {
  const has = (table: typeof images | typeof content | typeof containers) =>
    tx.select({ one: sql`1` }).from(table).where(eq(table.namespace, name)).limit(1).get() !== undefined;
  const out: string[] = [];
  if (has(images)) out.push("images");
  if (has(content)) out.push("blobs");
  if (has(containers)) out.push("containers");
  const snapshotters = tx
    .selectDistinct({ snapshotter: snapshots.snapshotter })
    .from(snapshots)
    .where(eq(snapshots.namespace, name))
    .orderBy(asc(snapshots.snapshotter))
    .all();
  for (const { snapshotter } of snapshotters) out.push(`snapshots on ${goQuote(snapshotter)} snapshotter`);
  return out;
}

/** Deletes an empty namespace, with its leases and ingests. */
export function deleteNamespace(tx: MetadataTx, name: string): void {
  const held = namespaceContents(tx, name);
  if (held.length > 0) {
    throw failedPrecondition(`namespace ${goQuote(name)} must be empty, but it still has ${held.join(", ")}`);
  }
  const deleted = tx
    .delete(namespaces)
    .where(eq(namespaces.name, name))
    .returning({ name: namespaces.name })
    .all();
  if (deleted.length === 0) throw notFound(`namespace ${goQuote(name)}`);
}

// bolt refuses an empty key with this error, which containerd passes on as Unknown.
function requireKey(key: string): void {
  if (key === "") throw new BunkerError(Kind.Unknown, "key required");
}
