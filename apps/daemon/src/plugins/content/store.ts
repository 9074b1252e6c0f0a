/** Local content store: the raw, non-namespaced blob store (containerd 1.6 `content/local`).
 *
 *    <root>/blobs/<algorithm>/<hex>   committed blobs, read-only (0444 under umask 022)
 *    <root>/ingest/<sha256(ref)>/     writes in progress (see ingest.ts)
 *
 *  A store copied from containerd reads here and the other way round (containerd-interop.test.ts),
 *  with one caveat on containerd's side: it serves only blobs its bolt database records, and its
 *  GC (100 ms after start by default) deletes every other blob. Namespaces, labels,
 *  leases and ingest expiry live in the metadata store: containerd 1.6 keeps `expireat` (24 h
 *  for an ingest outside a lease) in its bolt database, never on disk here, and its GC aborts
 *  any ingest here that the database no longer names. `walkStatusRefs`, `ingestsOlderThan` and
 *  `cleanup` are what that GC needs. */
import { constants, mkdirSync, rmSync } from "node:fs";
import { type FileHandle, mkdir, open, readdir, readFile, rm, stat, unlink } from "node:fs/promises";
import { join, resolve } from "node:path";
import {
  alreadyExists,
  BunkerError,
  invalidArgument,
  Kind,
  matchFilters,
  notFound,
  parseFilters,
  recordLookup,
  toBunkerError,
} from "@bunkerd/plugin-api";
import { goQuote } from "../metadata/validate.ts";
import { type Digest, isAlgorithm, parseDigest, sha256Hex } from "./digest.ts";
import { ingestPaths, readStatus, type Status, writeNewIngest } from "./ingest.ts";
import { isLocked, lockedExpected, lockWithRetry, unlock } from "./locks.ts";
import { BlobReader, CHUNK_SIZE, ReaderAt } from "./reader.ts";
import { Writer } from "./writer.ts";

/** What the store knows of a blob: containerd's `content.Info` without labels. */
export interface Info {
  digest: string;
  size: number;
  /** The commit time (the file's mtime). */
  createdAt: Date;
  /** The file's atime, as containerd reports it. */
  updatedAt: Date;
}

export interface WriterOptions {
  /** Expected size; recorded in the ingest's `total` file and checked against a resumed one. */
  total?: number;
  /** Expected digest: if that blob is already here, the writer is refused with AlreadyExists. */
  expected?: string;
}

/** An ingest found on disk, for garbage collection. */
export interface IngestEntry {
  /** The ingest directory's name: hex of sha256(ref). */
  id: string;
  /** Undefined when the ref file cannot be read (a damaged ingest). */
  ref?: string;
  /** Last write: updatedat or data's mtime, or the directory's mtime for a damaged ingest. */
  updatedAt: Date;
  /** A writer in this process holds it; cleanup leaves it alone. */
  active: boolean;
}

const errnoOf = (e: unknown) => (e as { code?: string })?.code;

export class LocalStore {
  private constructor(readonly root: string) {}

  /** Opens (creating `ingest/` if needed) the store at `root`. */
  static async open(root: string): Promise<LocalStore> {
    const abs = resolve(root);
    await mkdir(join(abs, "ingest"), { recursive: true, mode: 0o777 });
    return new LocalStore(abs);
  }

  // ── Paths ───────────────────────────────────────────────────────────────────────────────

  /** The file of a blob. Throws InvalidArgument for anything go-digest would refuse, so the
   *  path is always `<root>/blobs/<sha256|sha384|sha512>/<lowercase hex>`. */
  blobPath(digest: string, context?: string): string {
    const d = parseDigest(digest, context);
    return this.#blobFile(d);
  }

  #blobFile(d: Digest): string {
    return join(this.root, "blobs", d.algorithm, d.encoded);
  }

  #ingestDir(ref: string): string {
    // A hash of the ref keeps ingest paths one fixed-length segment, whatever the ref holds.
    return join(this.root, "ingest", sha256Hex(ref));
  }

  // ── Blobs ───────────────────────────────────────────────────────────────────────────────

  /** Size and times of a blob; NotFound `content sha256:…: not found`. */
  async info(digest: string): Promise<Info> {
    const p = this.blobPath(
      digest,
      "calculating blob info path: cannot calculate blob path from invalid digest",
    );
    try {
      const st = await stat(p);
      return infoOf(digest, st);
    } catch (e) {
      if (errnoOf(e) === "ENOENT") throw notFound(`content ${digest}`, { path: p, cause: e });
      throw toBunkerError(e);
    }
  }

  /** Opens a blob for random reads; close it when done. NotFound with containerd's
   *  `blob sha256:… expected at <path>: blob not found` (containerd appends `: not found`
   *  once more; BunkerError does not repeat a kind the subject already ends with). */
  async readerAt(digest: string): Promise<ReaderAt> {
    const p = this.blobPath(
      digest,
      "calculating blob path for ReaderAt: cannot calculate blob path from invalid digest",
    );
    let fh: FileHandle;
    try {
      fh = await open(p, constants.O_RDONLY | constants.O_NOFOLLOW);
    } catch (e) {
      if (errnoOf(e) === "ENOENT") {
        throw notFound(`blob ${digest} expected at ${p}: blob not found`, { path: p, cause: e });
      }
      throw toBunkerError(e);
    }
    try {
      return new ReaderAt(fh, (await fh.stat()).size);
    } catch (e) {
      await fh.close();
      throw toBunkerError(e);
    }
  }

  /** A range of a blob as a stream of chunks (≤ 1 MiB each), with the Content.Read rules:
   *  a negative offset reads from 0, an offset past the end is OutOfRange, and a size of 0 or
   *  one reaching past the end reads to the end. Errors come before the first chunk. */
  async read(digest: string, offset = 0, size = 0): Promise<BlobReader> {
    let reader: ReaderAt;
    try {
      reader = await this.readerAt(digest);
    } catch (e) {
      // Content.Read asks Info first, so a missing blob reads as Info's not-found.
      if (e instanceof BunkerError && e.kind === Kind.NotFound) throw notFound(`content ${digest}`);
      throw e;
    }
    const start = Math.max(0, offset);
    if (start > reader.size) {
      await reader.close();
      throw new BunkerError(Kind.OutOfRange, `read past object length ${reader.size} bytes`);
    }
    const length = size <= 0 || start + size > reader.size ? reader.size - start : size;
    return new BlobReader(reader, start, length);
  }

  /** Removes a blob; NotFound `content sha256:…: not found` if it is not here.
   *  (containerd 1.6 uses RemoveAll, which makes its not-found branch unreachable; the
   *  metadata store answers not-found first there, so the wire behaviour is the same.) */
  async delete(digest: string): Promise<void> {
    const p = this.blobPath(
      digest,
      "calculating blob path for delete: cannot calculate blob path from invalid digest",
    );
    try {
      await unlink(p);
    } catch (e) {
      if (errnoOf(e) === "ENOENT") throw notFound(`content ${digest}`, { path: p, cause: e });
      throw toBunkerError(e);
    }
  }

  /** Every blob, optionally filtered (containerd's content filters: `digest`; the local store
   *  has no labels). Algorithm directories go-digest does not know, and file names that are
   *  not a valid digest, are skipped. */
  async *walk(filters: readonly string[] = []): AsyncGenerator<Info> {
    const parsed = parseFilters(filters);
    const blobs = join(this.root, "blobs");
    for (const alg of await readdirOrEmpty(blobs)) {
      if (!isAlgorithm(alg)) continue;
      for (const name of await readdirOrEmpty(join(blobs, alg))) {
        const digest = `${alg}:${name}`;
        let d: Digest;
        try {
          d = parseDigest(digest);
        } catch {
          continue;
        }
        let st: Awaited<ReturnType<typeof stat>>;
        try {
          st = await stat(this.#blobFile(d));
        } catch (e) {
          if (errnoOf(e) === "ENOENT") continue; // deleted while walking
          throw toBunkerError(e);
        }
        if (!st.isFile()) continue;
        if (parsed.length > 0 && !matchFilters(parsed, recordLookup({ digest }))) continue;
        yield infoOf(digest, st);
      }
    }
  }

  // ── Ingests ─────────────────────────────────────────────────────────────────────────────

  /** The state of the ingest `ref`; NotFound when there is none. */
  async status(ref: string): Promise<Status> {
    const dir = this.#ingestDir(ref);
    const st = await readStatus(ingestPaths(dir));
    return { ...st, expected: lockedExpected(dir) ?? "" };
  }

  /** Every readable ingest, optionally filtered on `ref` (containerd's status filters).
   *  Ingests that vanish while listing (committed, aborted) are skipped, and so are damaged
   *  ones, which `ingestsOlderThan` still reports for cleanup. */
  async listStatuses(filters: readonly string[] = []): Promise<Status[]> {
    const parsed = parseFilters(filters);
    const out: Status[] = [];
    for (const id of await readdirOrEmpty(join(this.root, "ingest"))) {
      const dir = join(this.root, "ingest", id);
      let st: Status;
      try {
        st = await readStatus(ingestPaths(dir));
      } catch {
        continue;
      }
      if (parsed.length > 0 && !matchFilters(parsed, recordLookup({ ref: st.ref }))) continue;
      out.push({ ...st, expected: lockedExpected(dir) ?? "" });
    }
    return out;
  }

  /** The ref of every ingest (containerd's `WalkStatusRefs`, what its GC walks). */
  async *walkStatusRefs(): AsyncGenerator<string> {
    for (const id of await readdirOrEmpty(join(this.root, "ingest"))) {
      try {
        yield await readFile(join(this.root, "ingest", id, "ref"), "utf8");
      } catch {
        // Being removed, or damaged: nothing to report.
      }
    }
  }

  /** Removes the ingest `ref` and all it holds; NotFound `ingest ref "x": not found` if there is
   *  none. A writer still open on it fails at its next write or commit. */
  async abort(ref: string): Promise<void> {
    const dir = this.#ingestDir(ref);
    try {
      await stat(dir);
    } catch (e) {
      if (errnoOf(e) === "ENOENT") throw notFound(`ingest ref ${goQuote(ref)}`);
      throw toBunkerError(e);
    }
    await rm(dir, { recursive: true, force: true });
  }

  /** Starts or resumes the write of `ref`. Only one writer per ref at a time: a second waits up
   *  to about a second, then fails Unavailable (`ref x locked for 1.2s (since …): unavailable`).
   *  A resumed ingest continues at its stored offset; the digest so far is recomputed by
   *  reading the data back (a hasher's state cannot be stored). */
  async writer(ref: string, opts: WriterOptions = {}): Promise<Writer> {
    if (typeof ref !== "string" || ref === "") throw invalidArgument("ref must not be empty");
    const total = opts.total !== undefined && opts.total > 0 ? Math.floor(opts.total) : 0;
    const expected = opts.expected ?? "";
    if (expected !== "") {
      this.blobPath(
        expected,
        "calculating expected blob path for writer: cannot calculate blob path from invalid digest",
      );
    }
    const dir = this.#ingestDir(ref);
    await lockWithRetry(dir, ref, expected);
    try {
      return await this.#openWriter(ref, dir, total, expected);
    } catch (e) {
      unlock(dir);
      throw toBunkerError(e);
    }
  }

  async #openWriter(ref: string, dir: string, total: number, expected: string): Promise<Writer> {
    if (expected !== "" && (await fileExists(this.blobPath(expected)))) {
      throw alreadyExists(`content ${expected}`);
    }
    const paths = ingestPaths(dir);
    // Synchronous, as the new ingest's files are: cheaper than a thread-pool round trip each.
    mkdirSync(join(this.root, "ingest"), { recursive: true, mode: 0o777 });
    let resumed: { status: Status; hasher: Bun.CryptoHasher } | undefined;
    try {
      mkdirSync(dir, { mode: 0o755 });
    } catch (e) {
      if (errnoOf(e) !== "EEXIST") throw e;
      // An ingest that cannot be resumed (damaged, another ref's, another total) is started
      // over, as containerd does.
      resumed = await resume(paths, ref, total).catch(() => undefined);
    }
    let fh: FileHandle;
    if (resumed) {
      fh = await open(paths.data, constants.O_WRONLY | constants.O_CREAT, 0o666);
      const { status, hasher } = resumed;
      return new Writer(
        {
          ref,
          lockKey: dir,
          paths,
          fh,
          hasher,
          offset: status.offset,
          total: status.total,
          expected,
          startedAt: status.startedAt,
          updatedAt: status.updatedAt,
        },
        this,
      );
    }
    const startedAt = new Date();
    writeNewIngest(paths, ref, startedAt, total);
    // containerd keeps a stale total and stale data here; starting over means starting empty.
    if (total <= 0) rmSync(paths.total, { force: true });
    fh = await open(paths.data, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC, 0o666);
    return new Writer(
      {
        ref,
        lockKey: dir,
        paths,
        fh,
        hasher: new Bun.CryptoHasher("sha256"),
        offset: 0,
        total,
        expected,
        startedAt,
        updatedAt: startedAt,
      },
      this,
    );
  }

  // ── Garbage collection ──────────────────────────────────────────────────────────────────

  /** Ingests last written more than `ms` ago, damaged ones included (aged by their
   *  directory's mtime). */
  async ingestsOlderThan(ms: number): Promise<IngestEntry[]> {
    const cutoff = Date.now() - ms;
    const out: IngestEntry[] = [];
    for (const id of await readdirOrEmpty(join(this.root, "ingest"))) {
      const dir = join(this.root, "ingest", id);
      let entry: IngestEntry;
      try {
        const st = await readStatus(ingestPaths(dir));
        entry = { id, ref: st.ref, updatedAt: st.updatedAt, active: isLocked(dir) };
      } catch {
        let dirStat: Awaited<ReturnType<typeof stat>>;
        try {
          dirStat = await stat(dir);
        } catch {
          continue; // gone
        }
        if (!dirStat.isDirectory()) continue;
        const ref = await readFile(join(dir, "ref"), "utf8").catch(() => undefined);
        entry = { id, ref, updatedAt: dirStat.mtime, active: isLocked(dir) };
      }
      if (entry.updatedAt.getTime() < cutoff) out.push(entry);
    }
    return out;
  }

  /** Removes ingests idle for more than `olderThanMs` that no writer here holds and that `keep`
   *  does not claim (the metadata store passes the refs it still records). Returns what went. */
  async cleanup(opts: { olderThanMs: number; keep?: (ref: string) => boolean }): Promise<IngestEntry[]> {
    const removed: IngestEntry[] = [];
    for (const entry of await this.ingestsOlderThan(opts.olderThanMs)) {
      if (entry.active) continue;
      if (entry.ref !== undefined && opts.keep?.(entry.ref)) continue;
      const dir = join(this.root, "ingest", entry.id);
      if (isLocked(dir)) continue;
      await rm(dir, { recursive: true, force: true });
      removed.push(entry);
    }
    return removed;
  }
}

function infoOf(digest: string, st: { size: number; mtime: Date; atime: Date }): Info {
  return { digest, size: st.size, createdAt: st.mtime, updatedAt: st.atime };
}

/** Names in `dir`, sorted (containerd walks in lexical order); none if it does not exist. */
async function readdirOrEmpty(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).sort();
  } catch (e) {
    if (errnoOf(e) === "ENOENT" || errnoOf(e) === "ENOTDIR") return [];
    throw toBunkerError(e);
  }
}

async function fileExists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (e) {
    if (errnoOf(e) === "ENOENT") return false;
    throw toBunkerError(e);
  }
}

/** Reads back a stopped ingest (containerd's `resumeStatus`): its status, checked against the
 *  ref and total asked for, and the hash of its data, read in 1 MiB pieces. */
async function resume(
  paths: ReturnType<typeof ingestPaths>,
  ref: string,
  total: number,
): Promise<{ status: Status; hasher: Bun.CryptoHasher }> {
  const status = await readStatus(paths);
  if (status.ref !== ref) throw new Error(`ref key does not match: ${ref} != ${status.ref}`);
  if (total > 0 && status.total > 0 && total !== status.total) {
    throw new Error(`provided total differs from status: ${total} != ${status.total}`);
  }
  const hasher = new Bun.CryptoHasher("sha256");
  const fh = await open(paths.data, "r");
  let offset = 0;
  try {
    const buf = new Uint8Array(CHUNK_SIZE);
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, offset);
      if (bytesRead === 0) break;
      hasher.update(buf.subarray(0, bytesRead));
      offset += bytesRead;
    }
  } finally {
    await fh.close();
  }
  return { status: { ...status, offset }, hasher };
}
