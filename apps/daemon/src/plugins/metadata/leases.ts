/** The lease store: containerd 1.6's `metadata/leases.go` over SQLite. Each function works inside
 *  a transaction the caller holds (`write`/`read` in db.ts), so a content commit or a snapshot
 *  prepare records its object and leases it in one change.
 *
 *  What containerd 1.6.20 does, and so we do (each point checked against the real daemon):
 *  - lease IDs are not validated: "a b", "a/b" and "1--x_" are all leases. The Leases service
 *    makes one up (`leases.WithRandomID`) when the request has none.
 *  - labels are not size-checked; an empty value is not stored. `containerd.io/gc.expire` is
 *    not parsed here: the garbage collector reads it.
 *  - creating a lease creates its namespace.
 *  - a resource's type is `content` (the ID must be a digest), `ingests` (an ingest ref) or
 *    `snapshots/<snapshotter>` (a snapshot key); anything else is NotImplemented. Adding one twice
 *    is fine; deleting one the lease does not hold is fine.
 *  - through the `containerd-lease` header, content commits, ingests and snapshots join the
 *    caller's lease in the same transaction; a lease that does not exist fails the whole change
 *    with NotFound `lease does not exist: not found`. Images and containers never join a lease. */
import {
  alreadyExists,
  BunkerError,
  type Conjunction,
  invalidArgument,
  Kind,
  matchFilters,
  notFound,
  notImplemented,
} from "@bunkerd/plugin-api";
import { and, asc, eq, sql } from "drizzle-orm";
import type { MetadataTx } from "./db.ts";
import { mapField } from "./images.ts";
import { ensureNamespace } from "./namespaces.ts";
import { type Labels, leaseResources, leases } from "./schema.ts";
import { digestProblem, goQuote, storedLabels } from "./validate.ts";

export type Lease = { id: string; labels: Labels; createdAt: Date };

/** A leased object, named as the Leases API names it. */
export type LeaseResource = { type: string; id: string };

/** The lease-resource types, as bolt names the buckets under a lease. */
export const ResourceType = {
  content: "content",
  ingests: "ingests",
  /** Followed by "/<snapshotter>". */
  snapshots: "snapshots",
} as const;

export const snapshotResource = (snapshotter: string, key: string): LeaseResource => ({
  type: `${ResourceType.snapshots}/${snapshotter}`,
  id: key,
});

export function findLease(tx: MetadataTx, namespace: string, id: string): Lease | undefined {
  return tx
    .select({ id: leases.id, labels: leases.labels, createdAt: leases.createdAt })
    .from(leases)
    .where(and(eq(leases.namespace, namespace), eq(leases.id, id)))
    .get();
}

const leaseExists = (tx: MetadataTx, namespace: string, id: string) =>
  findLease(tx, namespace, id) !== undefined;

/** Creates a lease (and its namespace), or AlreadyExists `lease "<id>": already exists`. */
export function createLease(
  tx: MetadataTx,
  namespace: string,
  id: string,
  labels: Labels = {},
  now = new Date(),
): Lease {
  // containerd's LeaseManager refuses an empty ID with a plain error (Unknown on the wire); the
  // service never sends one, it makes one up.
  if (id === "") throw new BunkerError(Kind.Unknown, "lease id must be provided");
  ensureNamespace(tx, namespace, now);
  if (leaseExists(tx, namespace, id)) throw alreadyExists(`lease ${goQuote(id)}`);
  const lease: Lease = { id, labels: storedLabels(labels), createdAt: now };
  tx.insert(leases)
    .values({ namespace, ...lease })
    .run();
  return lease;
}

/** Deletes the lease and its resource list (the objects themselves are the collector's), or
 *  NotFound `lease "<id>": not found`. */
export function deleteLease(tx: MetadataTx, namespace: string, id: string): void {
  const deleted = tx
    .delete(leases)
    .where(and(eq(leases.namespace, namespace), eq(leases.id, id)))
    .returning({ id: leases.id })
    .all();
  if (deleted.length === 0) throw notFound(`lease ${goQuote(id)}`);
}

/** The namespace's leases matching any of the filters (`id`, `labels.<key>`), by ID byte by byte. */
export function listLeases(tx: MetadataTx, namespace: string, filters: Conjunction[] = []): Lease[] {
  return tx
    .select({ id: leases.id, labels: leases.labels, createdAt: leases.createdAt })
    .from(leases)
    .where(eq(leases.namespace, namespace))
    .orderBy(asc(leases.id))
    .all()
    .filter((lease) => matchFilters(filters, leaseFields(lease)));
}

/** containerd's adaptLease. */
export const leaseFields =
  (lease: Lease) =>
  ([field, ...rest]: string[]): string | undefined => {
    if (field === "id" && rest.length === 0) return lease.id;
    if (field === "labels") return mapField(lease.labels, rest);
    return undefined;
  };

/** parseLeaseResource: the resource with its ID in canonical form, or containerd's errors. */
export function parseLeaseResource(r: LeaseResource): LeaseResource {
  const parts = r.type.split("/");
  switch (parts[0]) {
    case ResourceType.content:
    case ResourceType.ingests:
      if (parts.length !== 1) throw invalidArgument(`invalid resource type ${r.type}`);
      if (parts[0] === ResourceType.content) {
        const problem = digestProblem(r.id);
        if (problem) throw invalidArgument(`invalid content resource id ${r.id}: ${problem}`);
      }
      break;
    case ResourceType.snapshots:
      if (parts.length !== 2) throw invalidArgument(`invalid snapshot resource type ${r.type}`);
      break;
    default:
      throw notImplemented(`resource type ${r.type} not supported yet`);
  }
  // bolt refuses an empty key; containerd passes that on as Unknown.
  if (r.id === "") throw new BunkerError(Kind.Unknown, "key required");
  return { type: r.type, id: r.id };
}

/** Adds a resource to an existing lease (the Leases API): NotFound `lease "<id>": not found`. */
export function addLeaseResource(tx: MetadataTx, namespace: string, lease: string, r: LeaseResource): void {
  if (!leaseExists(tx, namespace, lease)) throw notFound(`lease ${goQuote(lease)}`);
  insertResource(tx, namespace, lease, parseLeaseResource(r));
}

/** Removes a resource from a lease (the Leases API); one the lease does not hold is no error. */
export function deleteLeaseResource(
  tx: MetadataTx,
  namespace: string,
  lease: string,
  r: LeaseResource,
): void {
  if (!leaseExists(tx, namespace, lease)) throw notFound(`lease ${goQuote(lease)}`);
  removeResource(tx, namespace, lease, parseLeaseResource(r));
}

/** What the lease holds, in containerd's order: content, ingests, then snapshots by snapshotter;
 *  IDs byte by byte within each. */
export function listLeaseResources(tx: MetadataTx, namespace: string, lease: string): LeaseResource[] {
  if (!leaseExists(tx, namespace, lease)) throw notFound(`lease ${goQuote(lease)}`);
  const rank = sql`case when ${leaseResources.type} = 'content' then 0 when ${leaseResources.type} = 'ingests' then 1 else 2 end`;
  return tx
    .select({ type: leaseResources.type, id: leaseResources.id })
    .from(leaseResources)
    .where(and(eq(leaseResources.namespace, namespace), eq(leaseResources.lease, lease)))
    .orderBy(rank, asc(leaseResources.type), asc(leaseResources.id))
    .all();
}

/** The `containerd-lease` header's side of a change: puts the object in the caller's lease, if
 *  the call has one (addContentLease, addIngestLease, addSnapshotLease). True if it was leased. */
export function attachToLease(
  tx: MetadataTx,
  namespace: string,
  lease: string | undefined,
  r: LeaseResource,
): boolean {
  if (lease === undefined || lease === "") return false;
  if (!leaseExists(tx, namespace, lease)) throw notFound("lease does not exist");
  insertResource(tx, namespace, lease, r);
  return true;
}

/** Takes the object out of the caller's lease, if the call has one and the lease holds it
 *  (removeContentLease, removeIngestLease); never an error. */
export function detachFromLease(
  tx: MetadataTx,
  namespace: string,
  lease: string | undefined,
  r: LeaseResource,
): void {
  if (lease === undefined || lease === "") return;
  removeResource(tx, namespace, lease, r);
}

function insertResource(tx: MetadataTx, namespace: string, lease: string, r: LeaseResource): void {
  tx.insert(leaseResources).values({ namespace, lease, type: r.type, id: r.id }).onConflictDoNothing().run();
}

function removeResource(tx: MetadataTx, namespace: string, lease: string, r: LeaseResource): void {
  tx.delete(leaseResources)
    .where(
      and(
        eq(leaseResources.namespace, namespace),
        eq(leaseResources.lease, lease),
        eq(leaseResources.type, r.type),
        eq(leaseResources.id, r.id),
      ),
    )
    .run();
}
