/** A write transaction on one ingest (containerd's `content/local/writer.go`). Bytes are
 *  appended to `data` and hashed as they go; `commit` checks size and digest, then moves the
 *  file under blobs/ in one rename. `close` keeps the ingest so a later writer resumes it.
 *  Calls on one writer run one at a time, in the order they were made. */
import type { FileHandle } from "node:fs/promises";
import {
  chmodSync,
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  renameSync,
  rmSync,
  statSync,
  utimesSync,
} from "node:fs";
import { open } from "node:fs/promises";
import { dirname } from "node:path";
import { alreadyExists, BunkerError, failedPrecondition, Kind, toBunkerError } from "@bunkerd/plugin-api";
import { sha256Text } from "./digest.ts";
import { type IngestPaths, type Status, writeTimestampFile } from "./ingest.ts";
import { unlock } from "./locks.ts";

/** The store a writer commits into: where a blob of a given digest goes. */
export interface CommitTarget {
  blobPath(digest: string): string;
}

export interface WriterState {
  ref: string;
  lockKey: string;
  paths: IngestPaths;
  fh: FileHandle;
  hasher: Bun.CryptoHasher;
  offset: number;
  total: number;
  expected: string;
  startedAt: Date;
  updatedAt: Date;
}

/** fsync a directory, so a rename or unlink in it survives a crash. */
function syncDirSync(path: string): void {
  const fd = openSync(path, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** fsync a directory, so a rename or unlink in it survives a crash. */
export async function syncDir(path: string): Promise<void> {
  const fh = await open(path, "r");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export class Writer {
  #s: WriterState;
  #fh: FileHandle | undefined;
  #queue: Promise<unknown> = Promise.resolve();

  /** Made by `LocalStore.writer`, which holds the lock and hands it over. */
  constructor(
    state: WriterState,
    readonly store: CommitTarget,
  ) {
    this.#s = state;
    this.#fh = state.fh;
  }

  get ref(): string {
    return this.#s.ref;
  }
  /** Bytes written so far: the next write lands here. */
  get offset(): number {
    return this.#s.offset;
  }
  get closed(): boolean {
    return this.#fh === undefined;
  }

  #serial<T>(op: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(op, op);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  #handle(): FileHandle {
    if (!this.#fh) throw failedPrecondition(`writer for ref ${this.#s.ref} is closed`);
    return this.#fh;
  }

  status(): Status {
    const s = this.#s;
    return {
      ref: s.ref,
      offset: s.offset,
      total: s.total,
      expected: s.expected,
      startedAt: s.startedAt,
      updatedAt: s.updatedAt,
    };
  }

  /** sha256 of the bytes written so far. */
  digest(): string {
    return sha256Text(this.#s.hasher.copy().digest("hex"));
  }

  /** Appends `data` at the current offset; resolves to its length once all of it is written. */
  write(data: Uint8Array): Promise<number> {
    return this.#serial(() => this.#append(data));
  }

  /** A write that names its offset, as Content.Write requests do (containerd's
   *  `services/content/contentserver`): offset 0 on a started ingest starts it over; any other
   *  offset must be the current one, or the write is refused with OutOfRange. */
  writeAt(offset: number, data: Uint8Array): Promise<number> {
    return this.#serial(async () => {
      const current = this.#s.offset;
      if (offset > 0 && offset !== current) {
        throw new BunkerError(Kind.OutOfRange, `write @${offset} must occur at current offset ${current}`);
      }
      if (offset === 0 && current > 0) await this.#truncate(0);
      return data.length > 0 ? this.#append(data) : 0;
    });
  }

  /** Drops what was written and starts over. Only 0 is supported, as in containerd. */
  truncate(size: number): Promise<void> {
    return this.#serial(() => this.#truncate(size));
  }

  async #append(data: Uint8Array): Promise<number> {
    const fh = this.#handle();
    let done = 0;
    try {
      while (done < data.length) {
        const { bytesWritten } = await fh.write(data, done, data.length - done, this.#s.offset + done);
        done += bytesWritten;
      }
    } catch (e) {
      throw toBunkerError(e);
    } finally {
      // Whatever reached the file is counted and hashed, so offset and digest match the file.
      this.#s.hasher.update(done === data.length ? data : data.subarray(0, done));
      this.#s.offset += done;
      this.#s.updatedAt = new Date();
    }
    return done;
  }

  async #truncate(size: number): Promise<void> {
    if (size !== 0) throw new BunkerError(Kind.Unknown, "Truncate: unsupported size");
    const fh = this.#handle();
    await fh.truncate(0);
    this.#s.offset = 0;
    this.#s.hasher = new Bun.CryptoHasher("sha256");
    this.#s.updatedAt = new Date();
  }

  /** Checks the bytes against `size` (when > 0) and `expected` (when given) and stores them
   *  as blobs/sha256/<hex>; returns the digest. On a mismatch nothing goes under blobs/ and the
   *  ingest stays. If the blob already exists the ingest is removed and AlreadyExists thrown.
   *  Commit always ends the writer and releases the lock, as containerd's does.
   *
   *  Crash safety: data is fsynced, made read-only and timestamped, then renamed into place and
   *  the directory fsynced; a crash leaves either the ingest or the complete blob. */
  commit(size: number, expected?: string): Promise<string> {
    return this.#serial(async () => {
      const s = this.#s;
      const fh = this.#fh;
      this.#fh = undefined;
      try {
        if (!fh) throw failedPrecondition("cannot commit on closed writer");
        let fileSize: number;
        let mode: number;
        try {
          await fh.sync();
          const st = await fh.stat();
          fileSize = st.size;
          mode = st.mode & 0o777;
        } finally {
          await fh.close();
        }
        if (size > 0 && size !== fileSize) {
          throw failedPrecondition(`unexpected commit size ${fileSize}, expected ${size}`);
        }
        const dgst = sha256Text(s.hasher.digest("hex"));
        if (expected && expected !== dgst) {
          throw failedPrecondition(`unexpected commit digest ${dgst}, expected ${expected}`);
        }
        // From here on small metadata calls, made synchronously: each costs less than a
        // thread-pool round trip (the data's fsync above is the one that may take long).
        const target = this.store.blobPath(dgst);
        const blobDir = dirname(target);
        const created = mkdirSync(blobDir, { recursive: true, mode: 0o755 });
        // A directory made just now must itself be durable for the rename into it to be.
        for (let d = blobDir; created !== undefined; d = dirname(d)) {
          syncDirSync(dirname(d));
          if (d === created) break;
        }
        if (statSync(target, { throwIfNoEntry: false }) !== undefined) {
          rmSync(s.paths.dir, { recursive: true, force: true });
          throw alreadyExists(`content ${dgst}`);
        }
        // containerd sets these after the rename; setting them before keeps a half-made blob
        // (writable, or with an ingest's times) from ever being visible under blobs/.
        const now = new Date();
        utimesSync(s.paths.data, now, now);
        chmodSync(s.paths.data, mode & ~0o333);
        try {
          renameSync(s.paths.data, target);
        } catch (e) {
          // Leave the ingest resumable.
          try {
            chmodSync(s.paths.data, mode);
          } catch {}
          throw e;
        }
        syncDirSync(blobDir);
        rmSync(s.paths.dir, { recursive: true, force: true });
        return dgst;
      } catch (e) {
        throw toBunkerError(e);
      } finally {
        unlock(s.lockKey);
      }
    });
  }

  /** Ends the writer and keeps the ingest for a later writer to resume: syncs the data,
   *  records updatedat, releases the lock. Safe to call twice and after commit. */
  close(): Promise<void> {
    return this.#serial(async () => {
      const fh = this.#fh;
      if (!fh) return;
      this.#fh = undefined;
      try {
        try {
          await fh.sync();
        } finally {
          await fh.close();
        }
        await writeTimestampFile(this.#s.paths.updatedAt, this.#s.updatedAt).catch(() => undefined);
      } catch (e) {
        throw toBunkerError(e);
      } finally {
        unlock(this.#s.lockKey);
      }
    });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
