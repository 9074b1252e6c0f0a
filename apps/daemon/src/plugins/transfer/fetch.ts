/** Fetching one blob into the content store (containerd's remotes.Fetch), streamed: the
 *  registry's chunks are gathered into WRITE_CHUNK buffers and written through an ingest
 *  session in the content worker, so a layer is never whole in memory.
 *
 *  - The ingest ref is the descriptor's ref key, so an interrupted pull leaves an ingest that
 *    the next one resumes from its offset (a `Range` request); the content store checks the
 *    whole digest at commit. A resumed ingest that fails that check is dropped and fetched
 *    again from the start, once.
 *  - A blob the namespace already holds is not fetched ("exists"); opening its writer leases it
 *    to this pull, as containerd's writer does.
 *  - Labels the caller derives from the bytes (a manifest's children, the distribution source)
 *    go with the commit, and small blobs' bytes can be kept for the caller, saving a read back
 *    and an update call per blob.
 *  - One fetch per digest at a time in this worker: a second pull of the same blob waits for the
 *    first and then finds it stored (containerd fetches it twice: its issue 4937). */
import { BunkerError, failedPrecondition, Kind } from "@bunkerd/plugin-api";
import type { Descriptor, Fetcher } from "@bunkerd/registry";
import type { OpenOptions, Opened } from "./ingest.ts";
import { refKey } from "@bunkerd/registry";
import type { ProgressTracker } from "./progress.ts";

/** Bytes per write call to the content worker. */
export const WRITE_CHUNK = 1 << 20;

/** The ingest sessions of the content worker, over a proxy. */
export interface IngestApi {
  open(ns: string, ref: string, o: OpenOptions): Promise<Opened>;
  write(id: string, offset: number, data: Uint8Array): Promise<number>;
  truncate(id: string, size: number): Promise<void>;
  /** `tail`: the last bytes, written before the commit in the same call. */
  commit(
    id: string,
    size: number,
    expected: string,
    labels?: Record<string, string>,
    tail?: Uint8Array,
  ): Promise<string>;
  close(id: string): Promise<void>;
  abort(id: string): Promise<void>;
}

/** Work in flight in this worker, by key: a second caller waits for the first, then runs. */
export class Inflight {
  private readonly running = new Map<string, Promise<unknown>>();

  async once<T>(key: string, run: () => Promise<T>): Promise<T> {
    for (;;) {
      const current = this.running.get(key);
      if (!current) break;
      await current.catch(() => {});
    }
    const p = run();
    this.running.set(key, p);
    try {
      return await p;
    } finally {
      if (this.running.get(key) === p) this.running.delete(key);
    }
  }

  get size(): number {
    return this.running.size;
  }

  /** Whether work under `key` is running now. */
  has(key: string): boolean {
    return this.running.has(key);
  }
}

export interface FetchContext {
  ns: string;
  lease?: string;
  fetcher: Fetcher;
  ingest: IngestApi;
  tracker: ProgressTracker;
  inflight: Inflight;
  signal: AbortSignal;
}

export type Fetched = "fetched" | "exists";

/** What a fetch may do beyond storing the blob. */
export interface FetchOptions {
  /** Keep a copy of the bytes (a manifest or config the caller reads next), when the whole blob
   *  is downloaded now (not when it existed or an ingest was resumed). At most KEEP_MAX bytes. */
  keep?: boolean;
  /** Labels to record with the commit, from the bytes when kept: one metadata transaction
   *  instead of a commit then an update per label set. Not called when the blob existed. */
  labels?: (bytes: Uint8Array | undefined) => Record<string, string>;
}

/** The largest blob whose bytes a fetch keeps (manifests, indexes, configs are far smaller). */
export const KEEP_MAX = 4 << 20;

export interface FetchResult {
  state: Fetched;
  /** The blob's bytes, when asked for and fetched whole here. */
  bytes?: Uint8Array;
  /** The labels committed with the blob (undefined when it existed: nothing was labelled). */
  labels?: Record<string, string>;
}

export async function fetchBlob(c: FetchContext, desc: Descriptor): Promise<Fetched> {
  return (await fetchBlobWith(c, desc, {})).state;
}

export function fetchBlobWith(c: FetchContext, desc: Descriptor, o: FetchOptions): Promise<FetchResult> {
  return c.inflight.once(`blob:${desc.digest}`, () => ingestBlob(c, desc, o, true));
}

const isKind = (e: unknown, kind: Kind) => e instanceof BunkerError && e.kind === kind;

async function ingestBlob(
  c: FetchContext,
  desc: Descriptor,
  o: FetchOptions,
  mayRetry: boolean,
): Promise<FetchResult> {
  const opened = await openWriter(c, refKey(desc), desc);
  if (opened.exists) return { state: "exists" };
  const { id } = opened;
  let offset = opened.offset;
  const resumed = offset > 0;
  let ended = false;
  try {
    if (offset > desc.size) {
      await c.ingest.truncate(id, 0);
      offset = 0;
    }
    c.tracker.update(desc, offset);
    const kept = o.keep && offset === 0 && desc.size <= KEEP_MAX ? new Uint8Array(desc.size) : undefined;
    const tail = offset < desc.size ? await copy(c, desc, id, offset, kept) : undefined;
    // Made before the commit: a manifest that cannot be read leaves its ingest to resume.
    const labels = o.labels?.(kept);
    ended = true;
    try {
      await c.ingest.commit(id, desc.size, desc.digest, labels, tail);
    } catch (e) {
      if (isKind(e, Kind.AlreadyExists)) return { state: "exists" };
      // Bytes kept from an earlier attempt that do not add up to the blob: start over.
      if (resumed && mayRetry && isKind(e, Kind.FailedPrecondition)) {
        await dropIngest(c, desc);
        return ingestBlob(c, desc, o, false);
      }
      throw e;
    }
    return { state: "fetched", bytes: kept, labels };
  } finally {
    if (!ended) await c.ingest.close(id).catch(() => {});
  }
}

/** Opens the writer; a ref another writer holds (a client pulling the same blob) is waited
 *  for, as containerd's OpenWriter retries while it is locked. */
async function openWriter(c: FetchContext, ref: string, desc: Descriptor): Promise<Opened> {
  for (let delay = 50; ; delay = Math.min(delay * 2, 2000)) {
    try {
      return await c.ingest.open(c.ns, ref, { total: desc.size, expected: desc.digest, lease: c.lease });
    } catch (e) {
      if (!isKind(e, Kind.Unavailable)) throw e;
      c.signal.throwIfAborted();
      await Bun.sleep(delay);
    }
  }
}

async function dropIngest(c: FetchContext, desc: Descriptor): Promise<void> {
  const opened = await openWriter(c, refKey(desc), desc);
  if (!opened.exists) await c.ingest.abort(opened.id);
}

/** Streams the blob from `offset` into the session, WRITE_CHUNK bytes per write; the last
 *  bytes are answered rather than written, to go with the commit (a small blob then takes one
 *  call for its bytes and commit). */
async function copy(
  c: FetchContext,
  desc: Descriptor,
  id: string,
  offset: number,
  kept: Uint8Array | undefined,
): Promise<Uint8Array | undefined> {
  let buf = new Uint8Array(Math.min(WRITE_CHUNK, desc.size - offset));
  let filled = 0;
  const flush = async () => {
    // The buffer is transferred to the content worker, not copied: take a new one after.
    const chunk = filled === buf.length ? buf : buf.slice(0, filled);
    // Copied before it goes: the transfer detaches the buffer.
    kept?.set(chunk, offset);
    const n = await c.ingest.write(id, offset, chunk);
    offset += n;
    filled = 0;
    c.tracker.update(desc, offset);
    buf = new Uint8Array(Math.max(1, Math.min(WRITE_CHUNK, desc.size - offset)));
  };
  // The registry package checks the size as bytes arrive; the digest over the whole blob
  // (the resumed prefix included) is checked by the content store's commit.
  const stream = c.fetcher.fetch(desc, { offset, verifyDigest: offset === 0, signal: c.signal });
  for await (let chunk of stream) {
    while (chunk.length > 0) {
      if (filled === buf.length)
        throw failedPrecondition(`${desc.digest}: more than the ${desc.size} bytes of its descriptor`);
      const n = Math.min(chunk.length, buf.length - filled);
      buf.set(chunk.subarray(0, n), filled);
      filled += n;
      chunk = chunk.subarray(n);
      // A full buffer goes at once (what is written is what a resumed pull keeps), but the
      // last one goes with the commit.
      if (filled === buf.length && offset + filled < desc.size) await flush();
    }
  }
  if (filled === 0) return undefined;
  const tail = filled === buf.length ? buf : buf.slice(0, filled);
  kept?.set(tail, offset);
  return tail;
}
