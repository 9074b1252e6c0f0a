/** Snapshot ownership: which namespace holds which snapshot of which snapshotter, under which
 *  backend name, as containerd 1.6's `metadata/snapshot.go` keeps them in bolt. The snapshots
 *  themselves live in the snapshotter worker; its namespaced snapshotter calls these methods over
 *  a plugin proxy, so each is async and takes and returns plain data.
 *
 *  containerd calls the backend inside its bolt transaction (and 1.6 splits Prepare into a
 *  transaction before the backend call and one after). The backend is in another worker here, so
 *  every change that makes a backend snapshot is two-phase:
 *  - `begin…` reserves the record, hidden from the API (`pending`), under the backend name the
 *    backend will use, and puts it in the caller's lease. From then on the collector sees the name
 *    and never removes that backend snapshot: `begin…` takes the backend lock shared, so it cannot
 *    slip between the collector reading the names and removing what they do not name.
 *  - the caller runs the backend operation, then `finish…` confirms the record, or `abort…`
 *    drops the reservation if the backend refused.
 *  A crash between the phases leaves a pending record, never a record without its backend
 *  snapshot; `pending()` lists them so the snapshots service can settle each against its backend
 *  when it starts (roll a create back, roll a commit forward if the backend committed). A backend
 *  snapshot left with no record at all is an orphan the collector's walk removes.
 *  To the collector's mark a reservation is a record like any other: a lease or a `gc.root`
 *  label keeps it; an unheld one may be swept before it is confirmed, and `finish…` then answers
 *  NotFound and the caller removes what the backend made — where containerd would have collected
 *  the new snapshot right after creating it.
 *
 *  What containerd 1.6.20 does, and so we do (each point checked against the real daemon):
 *  - the backend name is `<namespace>/<sequence>/<key>` (`createKey`), the sequence counting per
 *    namespace and snapshotter and never reused. A Prepare or View spends its number once the key
 *    and parent check out, even if the backend, the lease or the labels then fail it; a failed
 *    Commit gives its number back (one bolt transaction rolled back).
 *  - a key is visible in its namespace only; the same key in two namespaces names two backend
 *    snapshots (1.6 shares nothing across namespaces).
 *  - Prepare/View: `snapshot "<key>": already exists`, `parent snapshot <p> does not exist: not
 *    found`; with a `containerd.io/snapshot.ref` label naming a snapshot the namespace has, that
 *    snapshot joins the caller's lease and the answer is `target snapshot "<ref>": already exists`.
 *  - Commit: `can not find snapshotter "<name>": not found` in a namespace that never had a
 *    snapshot there, then `snapshot "<name>": already exists`, the lease, `snapshot <key> does not
 *    exist: not found`; the new snapshot keeps the old one's parent and joins the caller's lease,
 *    the old key leaves it. Whether the key is active is the backend's to say.
 *  - Remove only drops the record (`cannot remove snapshot with child: failed precondition` while
 *    another names it as parent) and leaves the caller's lease; the collector removes the backend
 *    snapshot.
 *  - Update: labels only, with `labels` / `labels.<key>` field paths (`cannot update "<path>"
 *    field on snapshot "<name>": invalid argument` otherwise); an empty name is `invalid argument`.
 *  - a lease that does not exist fails the change: `lease does not exist: not found`. */
import {
  alreadyExists,
  BunkerError,
  failedPrecondition,
  invalidArgument,
  Kind,
  matchFilters,
  notFound,
  parseFilters,
} from "@bunkerd/plugin-api";
import { and, asc, eq, gt, isNotNull, isNull, sql } from "drizzle-orm";
import { backendLock } from "../gc/lock.ts";
import { type MetadataDb, type MetadataTx, read, write } from "./db.ts";
import { type GcNotifier, noGc } from "./gc-notify.ts";
import { attachToLease, detachFromLease, findLease, snapshotResource } from "./leases.ts";
import { ensureNamespace } from "./namespaces.ts";
import {
  type Labels,
  type SnapshotKind,
  type SnapshotPending,
  snapshotSequences,
  snapshots,
} from "./schema.ts";
import { snapshotFields } from "./snapshot-fields.ts";
import { goQuote, storedLabels, validateLabels } from "./validate.ts";

/** A confirmed snapshot record, as the API sees it (the backend adds kind and inherited labels). */
export type SnapshotRecord = {
  /** The client's key, unique in the namespace and snapshotter. */
  key: string;
  /** The snapshot's name in the snapshotter, unique across namespaces. */
  backendName: string;
  /** The parent's key. */
  parent?: string;
  kind: SnapshotKind;
  labels: Labels;
  createdAt: Date;
  updatedAt: Date;
};

/** The label that names the committed snapshot a Prepare is meant to become (a chain ID while
 *  unpacking): if the namespace has it already, the Prepare stops with AlreadyExists. */
export const SNAPSHOT_REF_LABEL = "containerd.io/snapshot.ref";

export type CreateRequest = {
  key: string;
  /** The parent's key; "" or absent for none. */
  parent?: string;
  kind: "active" | "view";
  labels?: Labels;
  /** The call's `containerd-lease`. */
  lease?: string;
};

/** A Prepare or View under way: what the backend is to create, and what finishes or aborts it. */
export type CreateReservation = {
  op: "create";
  key: string;
  kind: "active" | "view";
  backendName: string;
  /** The parent's backend name. */
  backendParent?: string;
  lease?: string;
};

export type CommitRequest = { name: string; key: string; labels?: Labels; lease?: string };

/** A Commit under way: the backend is to commit `sourceBackend` as `backendName`. */
export type CommitReservation = {
  op: "commit";
  name: string;
  key: string;
  backendName: string;
  sourceBackend: string;
  sequence: number;
  lease?: string;
};

export type Reservation = CreateReservation | CommitReservation;

/** A reservation left pending (its caller died between the phases). */
export type PendingSnapshot = { namespace: string; reservation: Reservation };

export type AbortOptions = {
  /** The backend snapshot may still exist (its removal failed): tell the collector. */
  orphan?: boolean;
};

/** containerd's createKey. */
export const backendNameOf = (namespace: string, sequence: number, key: string) =>
  `${namespace}/${sequence}/${key}`;

const columns = {
  key: snapshots.key,
  backendName: snapshots.backendName,
  parent: snapshots.parent,
  kind: snapshots.kind,
  labels: snapshots.labels,
  pending: snapshots.pending,
  createdAt: snapshots.createdAt,
  updatedAt: snapshots.updatedAt,
};
type Row = {
  key: string;
  backendName: string;
  parent: string | null;
  kind: SnapshotKind;
  labels: Labels;
  pending: SnapshotPending | null;
  createdAt: Date;
  updatedAt: Date;
};

/** What a change decided inside its transaction: a result, or an error to throw once the part
 *  of the change that containerd keeps (a spent sequence number, a lease) has committed. */
type Outcome<T> = { ok: T } | { error: BunkerError };

export class SnapshotRecords {
  /** The hottest read (Stat, Mounts, Usage, and every unpack's parent check), built once. One
   *  SELECT needs no transaction around it to see a consistent row. */
  private readonly rowQuery;

  constructor(
    private readonly db: MetadataDb,
    private readonly gc: GcNotifier = noGc,
  ) {
    this.rowQuery = db
      .select(columns)
      .from(snapshots)
      .where(
        and(
          eq(snapshots.namespace, sql.placeholder("namespace")),
          eq(snapshots.snapshotter, sql.placeholder("snapshotter")),
          eq(snapshots.key, sql.placeholder("key")),
        ),
      )
      .prepare();
  }

  /** The snapshot's record, or NotFound `snapshot <key> does not exist`. */
  async get(namespace: string, snapshotter: string, key: string): Promise<SnapshotRecord> {
    const row = this.rowQuery.get({ namespace, snapshotter, key });
    if (!row || row.pending !== null) throw notFound(`snapshot ${key} does not exist`);
    return toRecord(row);
  }

  /** The namespace's snapshots of the snapshotter matching any of the filters (`name`, `parent`,
   *  `kind`, `labels.<key>`, on the records alone), by key byte by byte. */
  async list(namespace: string, snapshotter: string, filters: string[] = []): Promise<SnapshotRecord[]> {
    const parsed = parseFilters(filters);
    return read(this.db, (tx) =>
      tx
        .select(columns)
        .from(snapshots)
        .where(scope(namespace, snapshotter, isNull(snapshots.pending)))
        .orderBy(asc(snapshots.key))
        .all(),
    )
      .map(toRecord)
      .filter((r) => matchFilters(parsed, snapshotFields({ ...r, name: r.key })));
  }

  /** Up to `limit` records after the key `after`, by key: one batch of containerd's Walk. */
  async page(
    namespace: string,
    snapshotter: string,
    opts: { after?: string; limit: number },
  ): Promise<SnapshotRecord[]> {
    const after = opts.after === undefined ? undefined : gt(snapshots.key, opts.after);
    return read(this.db, (tx) =>
      tx
        .select(columns)
        .from(snapshots)
        .where(scope(namespace, snapshotter, isNull(snapshots.pending), after))
        .orderBy(asc(snapshots.key))
        .limit(opts.limit)
        .all(),
    ).map(toRecord);
  }

  /** Reserves a Prepare or View (see the header for the errors and what each one keeps). */
  async beginCreate(namespace: string, snapshotter: string, c: CreateRequest): Promise<CreateReservation> {
    validateLabels("info.Labels", c.labels ?? {});
    const target = c.labels?.[SNAPSHOT_REF_LABEL];
    const parent = c.parent ?? "";
    const out = await backendLock(this.db).shared(() =>
      write(this.db, (tx): Outcome<CreateReservation> => {
        const now = new Date();
        if (target && findRecord(tx, namespace, snapshotter, target)) {
          attachToLease(tx, namespace, c.lease, snapshotResource(snapshotter, target));
          return { error: alreadyExists(`target snapshot ${goQuote(target)}`) };
        }
        if (findRow(tx, namespace, snapshotter, c.key)) throw alreadyExists(`snapshot ${goQuote(c.key)}`);
        let backendParent: string | undefined;
        if (parent !== "") {
          const p = findRecord(tx, namespace, snapshotter, parent);
          if (!p) throw notFound(`parent snapshot ${parent} does not exist`);
          backendParent = p.backendName;
        }
        ensureNamespace(tx, namespace, now);
        const backendName = backendNameOf(namespace, nextSequence(tx, namespace, snapshotter), c.key);
        // From here containerd has spent the number: what fails below it finds only after the
        // backend call, in its second transaction, in this order.
        if (c.lease && !findLease(tx, namespace, c.lease)) return { error: notFound("lease does not exist") };
        if (c.key === "") return { error: new BunkerError(Kind.Unknown, "bucket name required") };
        let labels: Labels;
        try {
          labels = storedLabels(c.labels);
        } catch (e) {
          return { error: e as BunkerError };
        }
        const pending: SnapshotPending = c.lease ? { op: "create", lease: c.lease } : { op: "create" };
        tx.insert(snapshots)
          .values({
            namespace,
            snapshotter,
            key: c.key,
            backendName,
            parent: parent === "" ? null : parent,
            kind: c.kind,
            labels,
            pending,
            createdAt: now,
            updatedAt: now,
          })
          .run();
        attachToLease(tx, namespace, c.lease, snapshotResource(snapshotter, c.key));
        const r: CreateReservation = { op: "create", key: c.key, kind: c.kind, backendName };
        if (backendParent !== undefined) r.backendParent = backendParent;
        if (c.lease) r.lease = c.lease;
        return { ok: r };
      }),
    );
    this.gc.mutated();
    if ("error" in out) throw out.error;
    return out.ok;
  }

  /** Confirms a create once the backend made the snapshot; the record is visible from now on.
   *  NotFound `snapshot <key> does not exist` if the reservation is gone (the collector took an
   *  unleased one): the caller then removes what the backend made. */
  async finishCreate(namespace: string, snapshotter: string, r: CreateReservation): Promise<SnapshotRecord> {
    const record = write(this.db, (tx) => {
      const row = findRow(tx, namespace, snapshotter, r.key);
      if (!row || row.backendName !== r.backendName) throw notFound(`snapshot ${r.key} does not exist`);
      if (row.pending === null) return toRecord(row);
      // containerd stamps the record in its second transaction, after the backend.
      const now = new Date();
      tx.update(snapshots)
        .set({ pending: null, createdAt: now, updatedAt: now })
        .where(scope(namespace, snapshotter, eq(snapshots.key, r.key)))
        .run();
      return toRecord({ ...row, pending: null, createdAt: now, updatedAt: now });
    });
    this.gc.mutated();
    return record;
  }

  /** Drops a create's reservation (the backend refused, or its snapshot was removed again) and
   *  takes it out of the caller's lease. Nothing to drop is fine. */
  async abortCreate(
    namespace: string,
    snapshotter: string,
    r: CreateReservation,
    opts: AbortOptions = {},
  ): Promise<void> {
    write(this.db, (tx) => {
      if (deletePending(tx, namespace, snapshotter, r.key, r.backendName)) {
        detachFromLease(tx, namespace, r.lease, snapshotResource(snapshotter, r.key));
      }
    });
    this.notify(snapshotter, r.backendName, opts);
  }

  /** Reserves a Commit of `key` as `name` (see the header for the errors, in containerd's order). */
  async beginCommit(namespace: string, snapshotter: string, c: CommitRequest): Promise<CommitReservation> {
    validateLabels("info.Labels", c.labels ?? {});
    const r = await backendLock(this.db).shared(() =>
      write(this.db, (tx): CommitReservation => {
        if (!findSequence(tx, namespace, snapshotter)) {
          throw notFound(`can not find snapshotter ${goQuote(snapshotter)}`);
        }
        if (findRow(tx, namespace, snapshotter, c.name)) throw alreadyExists(`snapshot ${goQuote(c.name)}`);
        if (c.name === "") throw new BunkerError(Kind.Unknown, "bucket name required");
        attachToLease(tx, namespace, c.lease, snapshotResource(snapshotter, c.name));
        const source = findRecord(tx, namespace, snapshotter, c.key);
        if (!source) throw notFound(`snapshot ${c.key} does not exist`);
        const sequence = nextSequence(tx, namespace, snapshotter);
        const backendName = backendNameOf(namespace, sequence, c.name);
        const now = new Date();
        const pending: SnapshotPending = {
          op: "commit",
          source: c.key,
          sourceBackend: source.backendName,
          sequence,
        };
        if (c.lease) pending.lease = c.lease;
        tx.insert(snapshots)
          .values({
            namespace,
            snapshotter,
            key: c.name,
            backendName,
            parent: source.parent ?? null,
            kind: "committed",
            labels: storedLabels(c.labels),
            pending,
            createdAt: now,
            updatedAt: now,
          })
          .run();
        const r: CommitReservation = {
          op: "commit",
          name: c.name,
          key: c.key,
          backendName,
          sourceBackend: source.backendName,
          sequence,
        };
        if (c.lease) r.lease = c.lease;
        return r;
      }),
    );
    this.gc.mutated();
    return r;
  }

  /** Confirms a commit once the backend committed: the old key's record goes (its backend
   *  snapshot is consumed) and leaves the caller's lease, the new one becomes visible. NotFound
   *  `snapshot <name> does not exist` if the reservation is gone; the old record goes all the same. */
  async finishCommit(namespace: string, snapshotter: string, r: CommitReservation): Promise<SnapshotRecord> {
    const out = write(this.db, (tx): Outcome<SnapshotRecord> => {
      const source = findRow(tx, namespace, snapshotter, r.key);
      if (source && source.backendName === r.sourceBackend) {
        // Creates still pending on the old key are doomed (backends refuse an active parent);
        // their own abort finds nothing to drop.
        tx.delete(snapshots)
          .where(scope(namespace, snapshotter, eq(snapshots.parent, r.key), isNotNull(snapshots.pending)))
          .run();
        tx.delete(snapshots)
          .where(scope(namespace, snapshotter, eq(snapshots.key, r.key)))
          .run();
        detachFromLease(tx, namespace, r.lease, snapshotResource(snapshotter, r.key));
      }
      const row = findRow(tx, namespace, snapshotter, r.name);
      if (!row || row.backendName !== r.backendName) {
        return { error: notFound(`snapshot ${r.name} does not exist`) };
      }
      if (row.pending !== null) {
        tx.update(snapshots)
          .set({ pending: null })
          .where(scope(namespace, snapshotter, eq(snapshots.key, r.name)))
          .run();
      }
      return { ok: toRecord({ ...row, pending: null }) };
    });
    this.gc.mutated();
    if ("error" in out) throw out.error;
    return out.ok;
  }

  /** Drops a commit's reservation (the backend refused it) and takes it out of the caller's lease;
   *  its sequence number is given back unless another was taken since. */
  async abortCommit(
    namespace: string,
    snapshotter: string,
    r: CommitReservation,
    opts: AbortOptions = {},
  ): Promise<void> {
    write(this.db, (tx) => {
      if (deletePending(tx, namespace, snapshotter, r.name, r.backendName)) {
        detachFromLease(tx, namespace, r.lease, snapshotResource(snapshotter, r.name));
      }
      tx.update(snapshotSequences)
        .set({ sequence: r.sequence - 1 })
        .where(
          and(
            eq(snapshotSequences.namespace, namespace),
            eq(snapshotSequences.snapshotter, snapshotter),
            eq(snapshotSequences.sequence, r.sequence),
          ),
        )
        .run();
    });
    this.notify(snapshotter, r.backendName, opts);
  }

  /** Updates the labels: without field paths they are replaced; with them, each is `labels` or
   *  `labels.<key>` (an empty value removes the key). Answers the record, whose backend the
   *  caller then updates with the inherited labels. */
  async update(
    namespace: string,
    snapshotter: string,
    info: { name: string; labels?: Labels },
    fieldpaths: string[] = [],
  ): Promise<SnapshotRecord> {
    if (info.name === "") throw invalidArgument(Kind.InvalidArgument);
    const record = write(this.db, (tx): SnapshotRecord => {
      const current = getRecord(tx, namespace, snapshotter, info.name);
      const labels = new Map(Object.entries(current.labels));
      const replace = () => {
        labels.clear();
        for (const [k, v] of Object.entries(info.labels ?? {})) labels.set(k, v);
      };
      if (fieldpaths.length === 0) replace();
      for (const path of fieldpaths) {
        if (path.startsWith("labels.")) {
          const key = path.slice("labels.".length);
          labels.set(key, info.labels && Object.hasOwn(info.labels, key) ? info.labels[key]! : "");
        } else if (path === "labels") replace();
        else {
          throw invalidArgument(`cannot update ${goQuote(path)} field on snapshot ${goQuote(info.name)}`);
        }
      }
      const merged = Object.fromEntries(labels);
      validateLabels("info.Labels", merged);
      // containerd's own wording for a failed label write here.
      const next = {
        ...current,
        labels: storedLabels(merged, "failed to read labels"),
        updatedAt: new Date(),
      };
      tx.update(snapshots)
        .set({ labels: next.labels, updatedAt: next.updatedAt })
        .where(scope(namespace, snapshotter, eq(snapshots.key, info.name)))
        .run();
      return next;
    });
    this.gc.mutated();
    return record;
  }

  /** Removes the record (and takes it out of the caller's lease); the backend snapshot stays until
   *  the collector finds no record names it. Answers its backend name. */
  async remove(
    namespace: string,
    snapshotter: string,
    key: string,
    opts: { lease?: string } = {},
  ): Promise<{ backendName: string }> {
    const backendName = write(this.db, (tx) => {
      const record = getRecord(tx, namespace, snapshotter, key);
      const child = tx
        .select({ key: snapshots.key })
        .from(snapshots)
        .where(scope(namespace, snapshotter, eq(snapshots.parent, key)))
        .limit(1)
        .get();
      if (child) throw failedPrecondition("cannot remove snapshot with child");
      tx.delete(snapshots)
        .where(scope(namespace, snapshotter, eq(snapshots.key, key)))
        .run();
      detachFromLease(tx, namespace, opts.lease, snapshotResource(snapshotter, key));
      return record.backendName;
    });
    this.gc.deleted({ snapshotter, backendName });
    return { backendName };
  }

  /** The reservations of the snapshotter still pending, in every namespace: after a crash, the
   *  snapshots service settles each against its backend before it serves. */
  async pending(snapshotter: string): Promise<PendingSnapshot[]> {
    const rows = read(this.db, (tx) =>
      tx
        .select({ namespace: snapshots.namespace, ...columns })
        .from(snapshots)
        .where(and(eq(snapshots.snapshotter, snapshotter), isNotNull(snapshots.pending)))
        .orderBy(asc(snapshots.namespace), asc(snapshots.key))
        .all(),
    );
    return rows.map((row) => ({ namespace: row.namespace, reservation: reservationOf(row) }));
  }

  private notify(snapshotter: string, backendName: string, opts: AbortOptions) {
    if (opts.orphan) this.gc.deleted({ snapshotter, backendName });
    else this.gc.mutated();
  }
}

function scope(namespace: string, snapshotter: string, ...more: (ReturnType<typeof eq> | undefined)[]) {
  return and(eq(snapshots.namespace, namespace), eq(snapshots.snapshotter, snapshotter), ...more);
}

function findRow(tx: MetadataTx, namespace: string, snapshotter: string, key: string): Row | undefined {
  return tx
    .select(columns)
    .from(snapshots)
    .where(scope(namespace, snapshotter, eq(snapshots.key, key)))
    .get();
}

/** A confirmed record; a pending one is not there yet for the API. */
function findRecord(tx: MetadataTx, namespace: string, snapshotter: string, key: string) {
  const row = findRow(tx, namespace, snapshotter, key);
  return row && row.pending === null ? toRecord(row) : undefined;
}

function getRecord(tx: MetadataTx, namespace: string, snapshotter: string, key: string): SnapshotRecord {
  const record = findRecord(tx, namespace, snapshotter, key);
  if (!record) throw notFound(`snapshot ${key} does not exist`);
  return record;
}

function deletePending(
  tx: MetadataTx,
  namespace: string,
  snapshotter: string,
  key: string,
  backendName: string,
): boolean {
  return (
    tx
      .delete(snapshots)
      .where(
        scope(
          namespace,
          snapshotter,
          eq(snapshots.key, key),
          eq(snapshots.backendName, backendName),
          isNotNull(snapshots.pending),
        ),
      )
      .returning({ key: snapshots.key })
      .all().length > 0
  );
}

function findSequence(tx: MetadataTx, namespace: string, snapshotter: string) {
  return tx
    .select({ sequence: snapshotSequences.sequence })
    .from(snapshotSequences)
    .where(and(eq(snapshotSequences.namespace, namespace), eq(snapshotSequences.snapshotter, snapshotter)))
    .get();
}

/** bolt's NextSequence on the namespace's snapshotter bucket (created on first use). */
function nextSequence(tx: MetadataTx, namespace: string, snapshotter: string): number {
  const row = tx
    .insert(snapshotSequences)
    .values({ namespace, snapshotter, sequence: 1 })
    .onConflictDoUpdate({
      target: [snapshotSequences.namespace, snapshotSequences.snapshotter],
      set: { sequence: sql`${snapshotSequences.sequence} + 1` },
    })
    .returning({ sequence: snapshotSequences.sequence })
    .get();
  return row!.sequence;
}

function toRecord(row: Row): SnapshotRecord {
  const r: SnapshotRecord = {
    key: row.key,
    backendName: row.backendName,
    kind: row.kind,
    labels: row.labels,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
  if (row.parent !== null) r.parent = row.parent;
  return r;
}

function reservationOf(row: Row): Reservation {
  const p = row.pending!;
  if (p.op === "commit") {
    const r: CommitReservation = {
      op: "commit",
      name: row.key,
      key: p.source,
      backendName: row.backendName,
      sourceBackend: p.sourceBackend,
      sequence: p.sequence,
    };
    if (p.lease) r.lease = p.lease;
    return r;
  }
  const r: CreateReservation = {
    op: "create",
    key: row.key,
    kind: row.kind === "view" ? "view" : "active",
    backendName: row.backendName,
  };
  if (p.lease) r.lease = p.lease;
  return r;
}
