/** The namespaced content store (containerd's `metadata/content.go`), in the content worker:
 *  blobs come from the local store beside it, ownership, labels, leases and ingest records
 *  from the metadata worker (ContentRecords, over a plugin proxy — small calls, no bytes).
 *
 *  - A blob is visible in a namespace only once committed there.
 *  - Writing a digest that another namespace already has is instant: the write is "shared",
 *    its status says it is complete, and its commit only records the blob in this namespace.
 *  - The local store knows a namespace's ingest as `<namespace>/1/<ref>`. */
import {
  Code,
  failedPrecondition,
  fromStatus,
  matchFilters,
  notFound,
  parseFilters,
  unavailable,
} from "@bunkerd/plugin-api";
import type { ContentInfo, ContentRecords, IngestRecord } from "../../plugins/metadata/content-records.ts";
import type { LocalStore, Status, Writer } from "../../plugins/content/index.ts";

export type Records = Pick<
  ContentRecords,
  | "info"
  | "list"
  | "has"
  | "update"
  | "delete"
  | "commit"
  | "startIngest"
  | "ingest"
  | "listIngests"
  | "endIngest"
>;

export interface WriterOptions {
  total?: number;
  expected?: string;
  lease?: string;
}

/** A write session in a namespace; `status().ref` is the client's ref. */
export interface NamespacedWriter {
  status(): Status;
  digest(): string;
  writeAt(offset: number, data: Uint8Array): Promise<number>;
  truncate(size: number): Promise<void>;
  commit(size: number, expected: string, labels?: Record<string, string>): Promise<string>;
  close(): Promise<void>;
}

export class NamespacedContent {
  /** Sessions open in this process, by namespace/ref: a second writer is refused. */
  private readonly open = new Map<string, Date>();

  constructor(
    readonly local: LocalStore,
    private readonly records: Records,
  ) {}

  info(ns: string, digest: string): Promise<ContentInfo> {
    return this.records.info(ns, digest);
  }

  update(ns: string, info: { digest: string; labels?: Record<string, string> }, mask: string[]) {
    return this.records.update(ns, info, mask);
  }

  list(ns: string, filters: string[]): Promise<ContentInfo[]> {
    return this.records.list(ns, filters);
  }

  /** Removes the namespace's record; the blob goes when the collector finds it unreferenced. */
  delete(ns: string, digest: string, lease?: string): Promise<void> {
    return this.records.delete(ns, digest, { lease });
  }

  /** Streams the blob from disk, after checking the namespace holds it and the offset is in it. */
  async read(ns: string, digest: string, offset: number, size: number) {
    const info = await this.records.info(ns, digest);
    if (offset > info.size) throw fromStatus(Code.OutOfRange, `read past object length ${info.size} bytes`);
    return { size: info.size, chunks: await this.local.read(digest, offset, size) };
  }

  /** Where the namespace's blob is on disk, for readers in other workers (the differ reads
   *  layers straight from the file rather than through a stream). */
  async blobPath(ns: string, digest: string): Promise<{ path: string; size: number }> {
    const info = await this.records.info(ns, digest);
    await this.local.info(digest); // NotFound if the file is gone
    return { path: this.local.blobPath(digest), size: info.size };
  }

  /** Takes a finished file made in another worker (a diff) into the store as a blob of the
   *  namespace. The file is copied in through an ingest, so its digest is computed and
   *  checked as any write is; the source file is left to its maker. */
  async importFile(
    ns: string,
    path: string,
    o: { ref: string; expected?: string; labels?: Record<string, string>; lease?: string },
  ): Promise<{ digest: string; size: number }> {
    const size = Bun.file(path).size;
    const w = await this.writer(ns, o.ref, { total: size, expected: o.expected, lease: o.lease });
    try {
      let offset = w.status().offset;
      if (offset > 0 && offset !== size) {
        await w.truncate(0);
        offset = 0;
      }
      if (offset < size) {
        const stream = Bun.file(path).slice(offset).stream() as unknown as AsyncIterable<Uint8Array>;
        for await (const chunk of stream) offset += await w.writeAt(offset, chunk);
      }
      const digest = await w.commit(size, o.expected ?? "", o.labels);
      return { digest, size };
    } catch (e) {
      if ((e as { kind?: string }).kind === "already exists" && o.expected)
        return { digest: o.expected, size };
      throw e;
    } finally {
      await w.close();
    }
  }

  async status(ns: string, ref: string): Promise<Status> {
    const rec = await this.records.ingest(ns, ref);
    const st = await this.statusOf(rec);
    if (!st) throw notFound(`reference ${ref}`);
    return st;
  }

  async listStatuses(ns: string, filters: string[]): Promise<Status[]> {
    const parsed = parseFilters(filters);
    const out: Status[] = [];
    for (const rec of await this.records.listIngests(ns)) {
      const st = await this.statusOf(rec);
      if (st && matchFilters(parsed, (p) => (p[0] === "ref" && p.length === 1 ? st.ref : undefined)))
        out.push(st);
    }
    return out;
  }

  async abort(ns: string, ref: string, lease?: string): Promise<void> {
    const rec = await this.records.endIngest(ns, ref, { lease });
    if (rec.expected) return; // shared: nothing was written locally
    await this.local.abort(rec.backendRef).catch((e) => {
      if ((e as { kind?: string }).kind !== "not found") throw e;
    });
  }

  /** Opens (or resumes) the write `ref` in the namespace. */
  async writer(ns: string, ref: string, o: WriterOptions): Promise<NamespacedWriter> {
    const key = `${ns}/${ref}`;
    const since = this.open.get(key);
    if (since) throw unavailable(`ref ${ref} locked (since ${since.toISOString()})`);
    this.open.set(key, new Date());
    try {
      let sharedSize: number | undefined;
      if (o.expected) {
        const there = await this.local.info(o.expected).catch(() => undefined);
        // The same size, or none declared: committing can reuse the blob as it is.
        if (there && (!o.total || o.total === there.size)) sharedSize = there.size;
      }
      const rec = await this.records.startIngest(ns, ref, {
        expected: o.expected,
        shared: sharedSize !== undefined,
        lease: o.lease,
      });
      const release = () => this.open.delete(key);
      if (sharedSize !== undefined && rec.expected) {
        return this.sharedWriter(ns, ref, rec, sharedSize, o.lease, release);
      }
      const w = await this.local.writer(rec.backendRef, { total: o.total, expected: o.expected });
      return this.localWriter(ns, ref, w, o.lease, release);
    } catch (e) {
      this.open.delete(key);
      throw e;
    }
  }

  private async statusOf(rec: IngestRecord): Promise<Status | undefined> {
    if (rec.expected) {
      const info = await this.local.info(rec.expected).catch(() => undefined);
      if (!info) return undefined;
      return {
        ref: rec.ref,
        offset: info.size,
        total: info.size,
        expected: rec.expected,
        startedAt: rec.createdAt,
        updatedAt: rec.createdAt,
      };
    }
    const st = await this.local.status(rec.backendRef).catch(() => undefined);
    return st && { ...st, ref: rec.ref };
  }

  private localWriter(
    ns: string,
    ref: string,
    w: Writer,
    lease: string | undefined,
    release: () => void,
  ): NamespacedWriter {
    const records = this.records;
    return {
      status: () => ({ ...w.status(), ref }),
      digest: () => w.digest(),
      writeAt: (offset, data) => w.writeAt(offset, data),
      truncate: (size) => w.truncate(size),
      async commit(size, expected, labels) {
        const offset = w.offset;
        if (size !== 0 && size !== offset) {
          throw failedPrecondition(`"${ref}" failed size validation: ${offset} != ${size}`);
        }
        // Taken before the commit, which ends the writer.
        let digest = w.digest();
        try {
          digest = await w.commit(offset, expected || undefined);
        } catch (e) {
          // The blob is there already (another namespace wrote it): record it here all the same.
          if ((e as { kind?: string }).kind !== "already exists") throw e;
        }
        await records.commit(ns, { digest, size: offset, labels, lease, ref });
        return digest;
      },
      async close() {
        release();
        await w.close();
      },
    };
  }

  private sharedWriter(
    ns: string,
    ref: string,
    rec: IngestRecord,
    size: number,
    lease: string | undefined,
    release: () => void,
  ): NamespacedWriter {
    const records = this.records;
    const digest = rec.expected!;
    const started = new Date();
    return {
      status: () => ({
        ref,
        offset: size,
        total: size,
        expected: digest,
        startedAt: started,
        updatedAt: started,
      }),
      digest: () => digest,
      async writeAt(offset, data) {
        // The client resumes at the status offset (the end): nothing to write. Data elsewhere
        // would have to unshare the blob, which no client of the shared path does.
        if (data.length === 0 || offset === size) return 0;
        throw failedPrecondition(
          `"${ref}": content ${digest} is already complete; write at ${offset} refused`,
        );
      },
      async truncate() {},
      async commit(s, expected, labels) {
        if (s !== 0 && s !== size)
          throw failedPrecondition(`"${ref}" failed size validation: ${size} != ${s}`);
        if (expected && expected !== digest) throw failedPrecondition(`"${ref}" unexpected digest`);
        await records.commit(ns, { digest, size, labels, lease, ref });
        return digest;
      },
      async close() {
        release();
      },
    };
  }
}
