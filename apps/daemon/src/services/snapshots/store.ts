/** The namespaced snapshotter (containerd 1.6's `metadata/snapshot.go`, with the events of
 *  `services/snapshots/snapshotters.go`), in the snapshotter worker: one per backend snapshotter,
 *  which it drives by backend name, while keys, parents, labels and leases are records kept by the
 *  metadata worker (SnapshotRecords, over a plugin proxy — small calls, plain data).
 *
 *  A change that makes a backend snapshot runs in two phases (snapshot-records.ts says why):
 *  reserve the record, run the backend, confirm — or drop the reservation if the backend refused.
 *  When the outcome of a confirmation is unknown (the metadata worker went away) nothing is undone
 *  here: the reservation stays pending and `recover()` settles it when the service starts again.
 *
 *  What the backend answers passes through unchanged: its errors (which name backend keys, as
 *  containerd's do), its mounts, its kind. Stat and Walk take the key, parent, times and labels
 *  from the record over the backend's, as containerd's `overlayInfo` does. Remove only drops the
 *  record; the collector removes the backend snapshot. */
import { create, type DescMessage, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import {
  BunkerError,
  Kind,
  type Logger,
  matchFilters,
  notImplemented,
  parseFilters,
  type Publisher,
  toBunkerError,
} from "@bunkerd/plugin-api";
import {
  SnapshotCommitSchema,
  SnapshotPrepareSchema,
  SnapshotRemoveSchema,
} from "@bunkerd/proto/containerd/events/snapshot_pb.ts";
import type {
  CommitReservation,
  CreateReservation,
  SnapshotRecord,
  SnapshotRecords,
} from "../../plugins/metadata/snapshot-records.ts";
import { snapshotFields } from "../../plugins/metadata/snapshot-fields.ts";
import {
  type Info,
  inheritedLabels,
  type Labels,
  type Mount,
  type Snapshotter,
  type Usage,
} from "./snapshotter.ts";

/** The records' methods this side calls (a proxy to the metadata worker's SnapshotRecords). */
export type Records = Pick<
  SnapshotRecords,
  | "get"
  | "page"
  | "beginCreate"
  | "finishCreate"
  | "abortCreate"
  | "beginCommit"
  | "finishCommit"
  | "abortCommit"
  | "update"
  | "remove"
  | "pending"
>;

/** Who is asking: the call's namespace, and its `containerd-lease` if any. */
export type Scope = { namespace: string; lease?: string };

/** A snapshot as the API shows it: the client's key and parent, the backend's kind. */
export type SnapshotInfo = Info;

export type CreateOptions = { labels?: Labels };

/** Records fetched per batch while walking (containerd's Walk batch). */
const WALK_BATCH = 100;

export class NamespacedSnapshotter {
  constructor(
    /** The backend's plugin ID: "overlayfs", "native". */
    readonly name: string,
    /** The backend itself, by backend name: for the collector and tests, not for API calls. */
    readonly backend: Snapshotter,
    private readonly records: Records,
    private readonly events?: Publisher,
    private readonly log?: Logger,
  ) {}

  /** A new active snapshot on `parent` (a committed key, or "" for none); its mounts. */
  async prepare(scope: Scope, key: string, parent = "", opts: CreateOptions = {}): Promise<Mount[]> {
    const mounts = await this.create(scope, "active", key, parent, opts.labels);
    await this.publish(scope.namespace, "/snapshot/prepare", SnapshotPrepareSchema, {
      key,
      parent,
      snapshotter: this.name,
    });
    return mounts;
  }

  /** A read-only view of `parent`; its mounts. containerd publishes no event for it. */
  view(scope: Scope, key: string, parent = "", opts: CreateOptions = {}): Promise<Mount[]> {
    return this.create(scope, "view", key, parent, opts.labels);
  }

  /** Commits the active snapshot `key` as `name`. */
  async commit(scope: Scope, name: string, key: string, opts: CreateOptions = {}): Promise<void> {
    const ns = scope.namespace;
    const r = await this.records.beginCommit(ns, this.name, {
      name,
      key,
      labels: opts.labels,
      lease: scope.lease,
    });
    try {
      await this.backend.commit(r.backendName, r.sourceBackend, { labels: inheritedLabels(opts.labels) });
    } catch (e) {
      if (toBunkerError(e).kind === Kind.NotFound) {
        this.log?.error("uncommittable snapshot: missing in backend, snapshot should be removed", {
          snapshotter: this.name,
          key,
        });
      }
      await this.settle(() => this.records.abortCommit(ns, this.name, r), r.backendName);
      throw e;
    }
    try {
      await this.records.finishCommit(ns, this.name, r);
    } catch (e) {
      // The reservation is gone (collected): what the backend committed has no record.
      if (toBunkerError(e).kind === Kind.NotFound) await this.removeQuietly(r.backendName);
      throw e;
    }
    await this.publish(ns, "/snapshot/commit", SnapshotCommitSchema, { key, name, snapshotter: this.name });
  }

  /** Removes the snapshot's record; the collector removes the backend snapshot. */
  async remove(scope: Scope, key: string): Promise<void> {
    await this.records.remove(scope.namespace, this.name, key, { lease: scope.lease });
    await this.publish(scope.namespace, "/snapshot/remove", SnapshotRemoveSchema, {
      key,
      snapshotter: this.name,
    });
  }

  async stat(scope: Scope, key: string): Promise<SnapshotInfo> {
    const record = await this.records.get(scope.namespace, this.name, key);
    return overlayInfo(await this.backend.stat(record.backendName), record);
  }

  /** Updates the labels (`labels`, `labels.<key>` field paths); the backend gets the inherited ones. */
  async update(
    scope: Scope,
    info: { name: string; labels?: Labels },
    fieldpaths: string[] = [],
  ): Promise<SnapshotInfo> {
    const record = await this.records.update(scope.namespace, this.name, info, fieldpaths);
    const inner = { name: record.backendName, labels: inheritedLabels(record.labels) };
    return overlayInfo(await this.backend.update(inner, fieldpaths), record);
  }

  async usage(scope: Scope, key: string): Promise<Usage> {
    const record = await this.records.get(scope.namespace, this.name, key);
    return this.backend.usage(record.backendName);
  }

  async mounts(scope: Scope, key: string): Promise<Mount[]> {
    const record = await this.records.get(scope.namespace, this.name, key);
    return this.backend.mounts(record.backendName);
  }

  /** The namespace's snapshots matching any of the filters (`name`, `parent`, `kind`,
   *  `labels.<key>`), by key; one whose backend snapshot is gone is skipped, as containerd does. */
  async *walk(scope: Scope, filters: string[] = []): AsyncGenerator<SnapshotInfo> {
    const parsed = parseFilters(filters);
    let after: string | undefined;
    for (;;) {
      const batch = await this.records.page(scope.namespace, this.name, { after, limit: WALK_BATCH });
      for (const record of batch) {
        let info: Info;
        try {
          info = await this.backend.stat(record.backendName);
        } catch (e) {
          if (toBunkerError(e).kind === Kind.NotFound) continue;
          throw e;
        }
        const out = overlayInfo(info, record);
        if (matchFilters(parsed, snapshotFields(out))) yield out;
      }
      if (batch.length < WALK_BATCH) return;
      after = batch[batch.length - 1]!.key;
    }
  }

  /** containerd 1.6's namespaced snapshotter has no Cleanup (the Snapshots service answers
   *  NotImplemented even for overlayfs, whose backend has one): the collector runs the backend's
   *  after it removed snapshots (SnapshotsService.cleanupBackend). */
  async cleanup(): Promise<void> {
    throw notImplemented("snapshotter does not implement Cleanup method");
  }

  /** Settles the reservations a crash left pending, before the service serves: a create is rolled
   *  back (its client never had an answer), a commit rolled forward if the backend committed it
   *  and back otherwise. What cannot be settled now stays pending for the next start. */
  async recover(): Promise<{ settled: number; left: number }> {
    let settled = 0;
    let left = 0;
    for (const { namespace, reservation: r } of await this.records.pending(this.name)) {
      try {
        if (r.op === "create") {
          await this.backend.remove(r.backendName).catch((e) => {
            if (toBunkerError(e).kind !== Kind.NotFound) throw e;
          });
          await this.records.abortCreate(namespace, this.name, r);
        } else if (await this.committedInBackend(r)) {
          await this.records.finishCommit(namespace, this.name, r).catch((e) => {
            if (toBunkerError(e).kind !== Kind.NotFound) throw e;
          });
        } else {
          await this.records.abortCommit(namespace, this.name, r);
        }
        settled++;
      } catch (e) {
        left++;
        this.log?.warn("cannot settle a pending snapshot", {
          snapshotter: this.name,
          namespace,
          key: r.op === "create" ? r.key : r.name,
          error: toBunkerError(e).message,
        });
      }
    }
    return { settled, left };
  }

  private async create(
    scope: Scope,
    kind: "active" | "view",
    key: string,
    parent: string,
    labels: Labels | undefined,
  ): Promise<Mount[]> {
    const ns = scope.namespace;
    const r = await this.records.beginCreate(ns, this.name, {
      key,
      parent,
      kind,
      labels,
      lease: scope.lease,
    });
    let mounts: Mount[];
    try {
      mounts = await this.createInBackend(r, labels);
    } catch (e) {
      await this.settle(() => this.records.abortCreate(ns, this.name, r), r.backendName);
      const err = toBunkerError(e);
      // The backend name is new by construction: the backend has no business knowing it.
      if (err.kind === Kind.AlreadyExists) {
        throw new BunkerError(Kind.Unknown, `unexpected error from snapshotter: ${err.message}: unknown`);
      }
      throw e;
    }
    try {
      await this.records.finishCreate(ns, this.name, r);
    } catch (e) {
      if (toBunkerError(e).kind === Kind.NotFound) {
        // The reservation is gone (collected before it was confirmed): undo the backend's work.
        const removed = await this.removeQuietly(r.backendName);
        if (!removed) await this.settle(() => this.records.abortCreate(ns, this.name, r, { orphan: true }));
      }
      throw e;
    }
    return mounts;
  }

  private createInBackend(r: CreateReservation, labels: Labels | undefined): Promise<Mount[]> {
    const opts = { labels: inheritedLabels(labels) };
    return r.kind === "view"
      ? this.backend.view(r.backendName, r.backendParent, opts)
      : this.backend.prepare(r.backendName, r.backendParent, opts);
  }

  private async committedInBackend(r: CommitReservation): Promise<boolean> {
    try {
      return (await this.backend.stat(r.backendName)).kind === "committed";
    } catch (e) {
      if (toBunkerError(e).kind === Kind.NotFound) return false;
      throw e;
    }
  }

  /** Best effort: true if the backend snapshot is gone. */
  private async removeQuietly(backendName: string): Promise<boolean> {
    try {
      await this.backend.remove(backendName);
      return true;
    } catch (e) {
      if (toBunkerError(e).kind === Kind.NotFound) return true;
      this.log?.error("failed to cleanup unreferenced snapshot", {
        snapshotter: this.name,
        key: backendName,
        error: toBunkerError(e).message,
      });
      return false;
    }
  }

  /** Runs a records call whose failure must not hide the error being reported; a reservation it
   *  could not drop stays pending until `recover()`. */
  private async settle(fn: () => Promise<unknown>, backendName?: string): Promise<void> {
    try {
      await fn();
    } catch (e) {
      this.log?.warn("cannot settle a snapshot reservation", {
        snapshotter: this.name,
        key: backendName,
        error: toBunkerError(e).message,
      });
    }
  }

  private async publish<D extends DescMessage>(
    namespace: string,
    topic: string,
    schema: D,
    event: MessageInitShape<D>,
  ): Promise<void> {
    if (!this.events) return;
    // Sent, not awaited: the event travels to the exchange on the same port as (and so ahead
    // of) this call's answer, and waiting for its acknowledgement cost every Prepare and Commit
    // a round trip through the main thread. The change is committed whatever becomes of it.
    this.events
      .publish(namespace, topic, { typeUrl: schema.typeName, value: toBinary(schema, create(schema, event)) })
      .catch((e) => this.log?.warn("failed to publish event", { topic, error: toBunkerError(e).message }));
  }
}

/** containerd's overlayInfo: the backend's kind and labels, with the record's key, parent, times
 *  and labels over them. */
export function overlayInfo(info: Info, record: SnapshotRecord): SnapshotInfo {
  const out: SnapshotInfo = {
    name: record.key,
    kind: info.kind,
    labels: { ...info.labels, ...record.labels },
    created: record.createdAt,
    updated: record.updatedAt,
  };
  if (record.parent !== undefined) out.parent = record.parent;
  return out;
}
