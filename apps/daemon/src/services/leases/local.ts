/** The Leases service's behaviour (containerd's `services/leases`, release 1.6), run beside the
 *  metadata store. The gRPC adapter only translates requests to these calls; the store's rules
 *  are in plugins/metadata/leases.ts.
 *
 *  What containerd 1.6.20 does, and so we do (checked against the real daemon):
 *  - create without an ID makes one up the way `leases.WithRandomID` does:
 *    `<nanoseconds of the current second>-<4 characters of URL-safe base64>`.
 *  - every committed change is reported to the garbage collector (deleting a lease or one of its
 *    resources as a deletion); delete with `sync` then runs a collection and waits for it.
 *  - leases publish no events. */
import { parseFilters } from "@bunkerd/plugin-api";
import { type MetadataDb, read, write } from "../../plugins/metadata/db.ts";
import {
  addLeaseResource,
  createLease,
  deleteLease,
  deleteLeaseResource,
  type Lease,
  type LeaseResource,
  listLeaseResources,
  listLeases,
} from "../../plugins/metadata/leases.ts";
import type { Labels } from "../../plugins/metadata/schema.ts";
import type { GcNotifier } from "../../plugins/metadata/gc-notify.ts";

export type { Lease, LeaseResource };

/** leases.WithRandomID: the current time's nanoseconds within its second, a dash, and 3 random
 *  bytes in URL-safe base64 ("743334332-psRz"). */
export function randomLeaseId(): string {
  // Date.now() has milliseconds only; the monotonic clock supplies the finer digits.
  const nanos = (Date.now() % 1000) * 1_000_000 + Number(process.hrtime.bigint() % 1_000_000n);
  const bytes = crypto.getRandomValues(new Uint8Array(3));
  return `${nanos}-${Buffer.from(bytes).toString("base64url")}`;
}

export class LeasesLocal {
  constructor(
    private readonly db: MetadataDb,
    private readonly gc: GcNotifier,
  ) {}

  /** Creates a lease (and its namespace); with an empty `id`, under a made-up one. */
  async create(namespace: string, id: string, labels: Labels = {}): Promise<Lease> {
    const leaseId = id === "" ? randomLeaseId() : id;
    const lease = write(this.db, (tx) => createLease(tx, namespace, leaseId, labels));
    this.gc.mutated();
    return lease;
  }

  /** Deletes the lease; `sync` waits for the garbage collector to run. */
  async delete(namespace: string, id: string, opts: { sync?: boolean } = {}): Promise<void> {
    write(this.db, (tx) => deleteLease(tx, namespace, id));
    this.gc.deleted();
    if (opts.sync) await this.gc.collect();
  }

  /** The leases matching any of the filters (`id`, `labels.<key>`), by ID. */
  async list(namespace: string, filters: string[] = []): Promise<Lease[]> {
    const parsed = parseFilters(filters);
    return read(this.db, (tx) => listLeases(tx, namespace, parsed));
  }

  async addResource(namespace: string, id: string, resource: LeaseResource): Promise<void> {
    write(this.db, (tx) => addLeaseResource(tx, namespace, id, resource));
    this.gc.mutated();
  }

  async deleteResource(namespace: string, id: string, resource: LeaseResource): Promise<void> {
    write(this.db, (tx) => deleteLeaseResource(tx, namespace, id, resource));
    // The resource may now be unreferenced: containerd marks the store dirty here too.
    this.gc.deleted();
  }

  async listResources(namespace: string, id: string): Promise<LeaseResource[]> {
    return read(this.db, (tx) => listLeaseResources(tx, namespace, id));
  }
}
