/** Content ownership: which namespace holds which blob, and the writes in progress (ingests),
 *  as containerd 1.6's `metadata/content.go` keeps them. The blobs themselves live in the content
 *  worker; it calls these methods over a plugin proxy, so each is async and takes and returns
 *  plain data.
 *
 *  What containerd 1.6.20 does, and so we do (each point checked against the real daemon):
 *  - a blob is visible in a namespace only once committed there; Info, Update and Delete of one
 *    that is not answer NotFound `content digest <digest>: not found`.
 *  - committing content the namespace already has is AlreadyExists `content <digest>: already
 *    exists`, but the ingest still ends and the content still joins the caller's lease: that
 *    part of the change commits before the error is returned. Starting a write whose expected
 *    digest the namespace has works the same way.
 *  - an ingest's ref is the client's; the content store knows it as `<namespace>/1/<ref>` (bolt's
 *    first sequence number in the ref's bucket), which is what its `ingest/<hash>/ref` file holds.
 *  - an ingest outside a lease expires after 24 hours (the collector removes it); one in a lease
 *    lives as long as the lease.
 *  - labels are validated (`info.Labels: …`) and empty values are not stored. */
import {
  alreadyExists,
  invalidArgument,
  matchFilters,
  notFound,
  parseFilters,
  type FieldLookup,
} from "@bunkerd/plugin-api";
import { and, asc, eq, sql } from "drizzle-orm";
import { type MetadataDb, read, write } from "./db.ts";
import { type GcNotifier, noGc } from "./gc-notify.ts";
import { mapField } from "./images.ts";
import { attachToLease, detachFromLease, type LeaseResource, ResourceType } from "./leases.ts";
import { ensureNamespace } from "./namespaces.ts";
import { content, ingests, type Labels } from "./schema.ts";
import { goQuote, storedLabels, validateLabels } from "./validate.ts";

export type ContentInfo = { digest: string; size: number; labels: Labels; createdAt: Date; updatedAt: Date };

/** A write in progress in a namespace. */
export type IngestRecord = {
  /** The client's ref, unique in the namespace. */
  ref: string;
  /** The ref the content store knows the write by, unique across namespaces. */
  backendRef: string;
  /** Set for a shared ingest: content the store already has, committed here without writing
   *  (containerd's `expected` key). Such an ingest has nothing to abort in the store. */
  expected?: string;
  /** When the collector may drop it; none while a lease holds it. */
  expiresAt?: Date;
  createdAt: Date;
};

export type CommitRecord = {
  digest: string;
  size: number;
  labels?: Labels;
  /** The call's `containerd-lease`: the content joins it. */
  lease?: string;
  /** The ingest this commit ends, if any: its record goes, and it leaves the caller's lease. */
  ref?: string;
};

export type StartIngestOptions = {
  /** The digest the client expects to write; if the namespace has it the write is refused. */
  expected?: string;
  /** The content store already has `expected`: record it as a shared ingest. */
  shared?: boolean;
  /** The call's `containerd-lease`: the ingest joins it and does not expire. */
  lease?: string;
  /** Outside a lease, when the ingest expires; 24 hours from now by default. */
  expiresAt?: Date;
};

/** How long an ingest outside a lease lives (containerd's fixed 24 hours). */
export const INGEST_EXPIRY_MS = 24 * 60 * 60 * 1000;

const infoColumns = {
  digest: content.digest,
  size: content.size,
  labels: content.labels,
  createdAt: content.createdAt,
  updatedAt: content.updatedAt,
};

const contentResource = (digest: string): LeaseResource => ({ type: ResourceType.content, id: digest });
const ingestResource = (ref: string): LeaseResource => ({ type: ResourceType.ingests, id: ref });

/** The content store's name for a namespace's ingest. */
export const backendRefOf = (namespace: string, ref: string) => `${namespace}/1/${ref}`;

const ns = sql.placeholder("namespace");
/** A placeholder where drizzle's types want a value (`set()` takes placeholders at run time and
 *  encodes what fills them as the column does: labels as JSON, dates as ms). */
const ph = <T>(name: string) => sql.placeholder(name) as unknown as T;
/** A nullable date goes in as ms or null: drizzle would run a null through the date encoder. */
const expiresAtMs = sql`${sql.placeholder("expiresAt")}`;

/** The statements a pull's record calls run (Info, Update, every write's start and commit),
 *  built once: drizzle's query building was ~35 % of the metadata worker's CPU in these calls.
 *  They run on the database's one connection, so inside a transaction they are part of it. */
function statements(db: MetadataDb) {
  const byDigest = and(eq(content.namespace, ns), eq(content.digest, sql.placeholder("digest")));
  const byRef = and(eq(ingests.namespace, ns), eq(ingests.ref, sql.placeholder("ref")));
  return {
    info: db.select(infoColumns).from(content).where(byDigest).prepare(),
    insertContent: db
      .insert(content)
      .values({
        namespace: ns,
        digest: sql.placeholder("digest"),
        size: sql.placeholder("size"),
        labels: sql.placeholder("labels"),
        createdAt: sql.placeholder("createdAt"),
        updatedAt: sql.placeholder("updatedAt"),
      })
      .prepare(),
    setLabels: db
      .update(content)
      .set({ labels: ph<Labels>("labels"), updatedAt: ph<Date>("updatedAt") })
      .where(byDigest)
      .prepare(),
    ingest: db.select().from(ingests).where(byRef).prepare(),
    deleteIngest: db.delete(ingests).where(byRef).returning().prepare(),
    insertIngest: db
      .insert(ingests)
      .values({
        namespace: ns,
        ref: sql.placeholder("ref"),
        createdAt: sql.placeholder("createdAt"),
        backendRef: sql.placeholder("backendRef"),
        expiresAt: expiresAtMs,
        expected: sql.placeholder("expected"),
      })
      .prepare(),
    updateIngest: db
      .update(ingests)
      .set({
        backendRef: ph<string>("backendRef"),
        expiresAt: expiresAtMs,
        expected: ph<string | null>("expected"),
      })
      .where(byRef)
      .prepare(),
  };
}

export class ContentRecords {
  private readonly q: ReturnType<typeof statements>;

  constructor(
    private readonly db: MetadataDb,
    private readonly gc: GcNotifier = noGc,
  ) {
    this.q = statements(db);
  }

  /** The namespace's record of the blob. One SELECT needs no transaction around it to see a
   *  consistent row (Info and Read ask it on every call). */
  private findInfo(namespace: string, digest: string): ContentInfo | undefined {
    return this.q.info.get({ namespace, digest });
  }

  private getInfo(namespace: string, digest: string): ContentInfo {
    const info = this.findInfo(namespace, digest);
    if (!info) throw notFound(`content digest ${digest}`);
    return info;
  }

  private findIngest(namespace: string, ref: string): IngestRecord | undefined {
    const r = this.q.ingest.get({ namespace, ref });
    return r && toIngest(r);
  }

  private deleteIngest(namespace: string, ref: string): IngestRecord | undefined {
    const [r] = this.q.deleteIngest.all({ namespace, ref });
    return r && toIngest(r);
  }

  /** The blob's record in the namespace. */
  async info(namespace: string, digest: string): Promise<ContentInfo> {
    return this.getInfo(namespace, digest);
  }

  /** The namespace's blobs matching any of the filters (`digest`, `labels.<key>`), by digest. */
  async list(namespace: string, filters: string[] = []): Promise<ContentInfo[]> {
    const parsed = parseFilters(filters);
    return read(this.db, (tx) =>
      tx
        .select(infoColumns)
        .from(content)
        .where(eq(content.namespace, namespace))
        .orderBy(asc(content.digest))
        .all(),
    ).filter((info) => matchFilters(parsed, contentFields(info)));
  }

  /** Whether the namespace has the blob. */
  async has(namespace: string, digest: string): Promise<boolean> {
    return this.findInfo(namespace, digest) !== undefined;
  }

  /** Whether any namespace has the blob. */
  async exists(digest: string): Promise<boolean> {
    return (
      read(this.db, (tx) =>
        tx.select({ digest: content.digest }).from(content).where(eq(content.digest, digest)).limit(1).get(),
      ) !== undefined
    );
  }

  /** Records a blob the content store has just committed (see the header for AlreadyExists). */
  async commit(namespace: string, c: CommitRecord): Promise<ContentInfo> {
    validateLabels("info.Labels", c.labels ?? {});
    const out = write(this.db, (tx) => {
      const now = new Date();
      ensureNamespace(tx, namespace, now);
      let info = this.findInfo(namespace, c.digest);
      const existed = info !== undefined;
      if (!info) {
        info = {
          digest: c.digest,
          size: c.size,
          labels: storedLabels(c.labels),
          createdAt: now,
          updatedAt: now,
        };
        this.q.insertContent.run({ namespace, ...info });
      }
      if (c.ref !== undefined) {
        this.deleteIngest(namespace, c.ref);
        detachFromLease(tx, namespace, c.lease, ingestResource(c.ref));
      }
      attachToLease(tx, namespace, c.lease, contentResource(c.digest));
      return { info, existed };
    });
    this.gc.mutated();
    if (out.existed) throw alreadyExists(`content ${c.digest}`);
    return out.info;
  }

  /** Updates the labels: without a mask they are replaced; with one, each path is `labels` or
   *  `labels.<key>` (an empty value removes the key); any other is InvalidArgument. */
  async update(
    namespace: string,
    info: { digest: string; labels?: Labels },
    mask: string[] = [],
  ): Promise<ContentInfo> {
    const updated = write(this.db, (): ContentInfo => {
      const current = this.getInfo(namespace, info.digest);
      const labels = new Map(Object.entries(current.labels));
      if (mask.length === 0) {
        labels.clear();
        for (const [k, v] of Object.entries(info.labels ?? {})) labels.set(k, v);
      }
      for (const path of mask) {
        if (path.startsWith("labels.")) {
          const key = path.slice("labels.".length);
          labels.set(key, info.labels && Object.hasOwn(info.labels, key) ? info.labels[key]! : "");
        } else if (path === "labels") {
          labels.clear();
          for (const [k, v] of Object.entries(info.labels ?? {})) labels.set(k, v);
        } else {
          throw invalidArgument(
            `cannot update ${goQuote(path)} field on content info ${goQuote(info.digest)}`,
          );
        }
      }
      const merged = Object.fromEntries(labels);
      validateLabels("info.Labels", merged);
      const next = { ...current, labels: storedLabels(merged), updatedAt: new Date() };
      this.q.setLabels.run({
        namespace,
        digest: info.digest,
        labels: next.labels,
        updatedAt: next.updatedAt,
      });
      return next;
    });
    this.gc.mutated();
    return updated;
  }

  /** Removes the namespace's record of the blob (and takes it out of the caller's lease); the
   *  blob stays on disk until the collector finds nothing refers to it. */
  async delete(namespace: string, digest: string, opts: { lease?: string } = {}): Promise<void> {
    write(this.db, (tx) => {
      const deleted = tx
        .delete(content)
        .where(and(eq(content.namespace, namespace), eq(content.digest, digest)))
        .returning({ digest: content.digest })
        .all();
      if (deleted.length === 0) throw notFound(`content digest ${digest}`);
      detachFromLease(tx, namespace, opts.lease, contentResource(digest));
    });
    this.gc.deleted({ content: digest });
  }

  /** Starts (or resumes) the write `ref` in the namespace, as containerd's metadata Writer does,
   *  and answers the content store's ref for it. If the namespace already has `expected`, the
   *  content joins the caller's lease and the answer is AlreadyExists `content <digest>: already
   *  exists`. A lease that does not exist fails it: NotFound `lease does not exist: not found`. */
  async startIngest(
    namespace: string,
    ref: string,
    opts: StartIngestOptions = {},
  ): Promise<IngestRecord & { created: boolean }> {
    if (ref === "") throw invalidArgument("ref must not be empty");
    const out = write(this.db, (tx) => {
      const now = new Date();
      if (opts.expected && this.findInfo(namespace, opts.expected)) {
        try {
          attachToLease(tx, namespace, opts.lease, contentResource(opts.expected));
        } catch (e) {
          throw notFound("unable to lease content: lease does not exist", { cause: e });
        }
        return { exists: true as const };
      }
      ensureNamespace(tx, namespace, now);
      const existing = this.findIngest(namespace, ref);
      const leased = attachToLease(tx, namespace, opts.lease, ingestResource(ref));
      const record: IngestRecord = existing ?? {
        ref,
        backendRef: backendRefOf(namespace, ref),
        createdAt: now,
      };
      if (!leased) record.expiresAt = opts.expiresAt ?? new Date(now.getTime() + INGEST_EXPIRY_MS);
      if (opts.shared && opts.expected) record.expected = opts.expected;
      const values = {
        backendRef: record.backendRef,
        expiresAt: record.expiresAt?.getTime() ?? null,
        expected: record.expected ?? null,
      };
      if (existing) this.q.updateIngest.run({ namespace, ref, ...values });
      else this.q.insertIngest.run({ namespace, ref, createdAt: now, ...values });
      return { exists: false as const, record: { ...record, created: !existing } };
    });
    this.gc.mutated();
    if (out.exists) throw alreadyExists(`content ${opts.expected}`);
    return out.record;
  }

  /** The write in progress, or NotFound `reference <ref>: not found`. */
  async ingest(namespace: string, ref: string): Promise<IngestRecord> {
    const record = this.findIngest(namespace, ref);
    if (!record) throw notFound(`reference ${ref}`);
    return record;
  }

  /** The namespace's writes in progress, by ref. */
  async listIngests(namespace: string): Promise<IngestRecord[]> {
    return read(this.db, (tx) =>
      tx.select().from(ingests).where(eq(ingests.namespace, namespace)).orderBy(asc(ingests.ref)).all(),
    ).map(toIngest);
  }

  /** Ends a write without a commit (Abort): the record goes, and leaves the caller's lease.
   *  Answers the record, so the content store can drop its partial data (none for a shared one);
   *  NotFound `reference <ref>: not found` if there is no such write. */
  async endIngest(namespace: string, ref: string, opts: { lease?: string } = {}): Promise<IngestRecord> {
    const record = write(this.db, (tx) => {
      const found = this.deleteIngest(namespace, ref);
      if (!found) throw notFound(`reference ${ref}`);
      detachFromLease(tx, namespace, opts.lease, ingestResource(ref));
      return found;
    });
    this.gc.mutated();
    return record;
  }
}

/** containerd's adaptContentInfo: `digest` and `labels.<key>`; `size` matches nothing. */
export const contentFields =
  (info: ContentInfo): FieldLookup =>
  ([field, ...rest]) => {
    if (field === "digest") return info.digest;
    if (field === "labels") return mapField(info.labels, rest);
    return undefined;
  };

type IngestRow = typeof ingests.$inferSelect;

const toIngest = (r: IngestRow): IngestRecord => {
  const out: IngestRecord = { ref: r.ref, backendRef: r.backendRef, createdAt: r.createdAt };
  if (r.expected !== null) out.expected = r.expected;
  if (r.expiresAt !== null) out.expiresAt = r.expiresAt;
  return out;
};
