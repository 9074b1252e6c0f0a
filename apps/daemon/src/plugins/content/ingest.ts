/** An ingest on disk, as containerd 1.6 lays it out (`content/local/store.go`):
 *
 *    <root>/ingest/<hex of sha256(ref)>/
 *      ref        the ref, as given (mode 0666 & ~umask)
 *      data       the bytes so far; its size is the offset
 *      startedat  Go MarshalText time (RFC 3339, ns, local zone)
 *      updatedat  same (a hard link to startedat at first); rewritten via updatedat.tmp when
 *                 a writer closes (data's mtime may be newer)
 *      total      expected size in decimal, only when one was given
 *
 *  The directory is named after a hash of the ref, so a ref of any bytes stays one path
 *  segment below ingest/. */
import { closeSync, constants, linkSync, openSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { open, readFile, rename, stat } from "node:fs/promises";
import { join } from "node:path";
import { BunkerError, Kind, notFound, toBunkerError } from "@bunkerd/plugin-api";
import { marshalTime, unmarshalTime } from "./gotime.ts";

export interface IngestPaths {
  dir: string;
  ref: string;
  data: string;
  startedAt: string;
  updatedAt: string;
  total: string;
}

export function ingestPaths(dir: string): IngestPaths {
  return {
    dir,
    ref: join(dir, "ref"),
    data: join(dir, "data"),
    startedAt: join(dir, "startedat"),
    updatedAt: join(dir, "updatedat"),
    total: join(dir, "total"),
  };
}

/** The state of an ingest: what containerd's `content.Status` holds. */
export interface Status {
  ref: string;
  /** Bytes written so far. */
  offset: number;
  /** Expected size, 0 when unknown. */
  total: number;
  /** Expected digest; the local store keeps it only while a writer is open in this process. */
  expected: string;
  startedAt: Date;
  updatedAt: Date;
}

const errnoOf = (e: unknown) => (e as { code?: string })?.code;

/** Go's `os.ReadFile` error text for a missing file, with containerd's not-found wrap. */
function missing(op: string, path: string, cause: unknown): BunkerError {
  return notFound(`${op} ${path}: no such file or directory`, { path, cause });
}

async function readTimestamp(path: string, what: string): Promise<Date> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (e) {
    if (errnoOf(e) === "ENOENT") {
      throw new BunkerError(
        Kind.NotFound,
        `could not read ${what}: open ${path}: no such file or directory`,
        {
          path,
          cause: e,
        },
      );
    }
    throw toBunkerError(e);
  }
  const t = unmarshalTime(text);
  if (!t) {
    throw new BunkerError(
      Kind.Unknown,
      `could not read ${what}: could not parse timestamp file ${path}: parsing time ${JSON.stringify(text)} as "2006-01-02T15:04:05Z07:00": cannot parse`,
      { path },
    );
  }
  return t;
}

/** The total file, as containerd reads it: anything but a decimal integer counts as 0. */
export async function readTotal(path: string): Promise<number> {
  try {
    const text = await readFile(path, "utf8");
    return /^[+-]?\d+$/.test(text) ? Number(text) : 0;
  } catch {
    return 0;
  }
}

/** Reads an ingest's status from disk (containerd's `store.status`): NotFound when the data
 *  or ref file is missing, which is also what an ingest being committed or aborted looks like. */
export async function readStatus(p: IngestPaths): Promise<Status> {
  let data: Awaited<ReturnType<typeof stat>>;
  try {
    data = await stat(p.data);
  } catch (e) {
    if (errnoOf(e) === "ENOENT") throw missing("stat", p.data, e);
    throw toBunkerError(e);
  }
  let ref: string;
  try {
    ref = await readFile(p.ref, "utf8");
  } catch (e) {
    if (errnoOf(e) === "ENOENT") throw missing("open", p.ref, e);
    throw toBunkerError(e);
  }
  const startedAt = await readTimestamp(p.startedAt, "startedat");
  let updatedAt = await readTimestamp(p.updatedAt, "updatedat");
  // updatedat is written only when a writer closes; the data file's mtime may be newer.
  if (data.mtime > updatedAt) updatedAt = data.mtime;
  return { ref, offset: data.size, total: await readTotal(p.total), expected: "", startedAt, updatedAt };
}

/** containerd's `writeToCompletion`: write `<path>.tmp` with O_SYNC, then rename over `path`,
 *  so a reader sees the old timestamp or the new one. */
export async function writeTimestampFile(path: string, t: Date): Promise<void> {
  const tmp = `${path}.tmp`;
  const fh = await open(
    tmp,
    constants.O_RDWR | constants.O_CREAT | constants.O_TRUNC | constants.O_SYNC,
    0o666,
  );
  try {
    await fh.writeFile(marshalTime(t));
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
}

/** Writes the files of a new ingest (ref, startedat, updatedat and, when known, total).
 *  Synchronous: a few small writes cost less than a thread-pool round trip each. The directory
 *  is new (or a damaged ingest being started over) and locked, so no reader needs startedat's
 *  tmp+rename; updatedat starts as a hard link to it — a new inode cost 15 µs to 0.7 ms of
 *  kernel time on the bench machine's ext4 (depending on the directory), a link ~15 µs — and
 *  is later replaced by a rename, which leaves startedat as it was. */
export function writeNewIngest(p: IngestPaths, ref: string, startedAt: Date, total: number): void {
  writeFileSync(p.ref, ref, { mode: 0o666 });
  const fd = openSync(
    p.startedAt,
    constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_SYNC,
    0o666,
  );
  try {
    writeSync(fd, marshalTime(startedAt));
  } finally {
    closeSync(fd);
  }
  try {
    linkSync(p.startedAt, p.updatedAt);
  } catch (e) {
    if (errnoOf(e) !== "EEXIST") throw e;
    rmSync(p.updatedAt, { force: true });
    linkSync(p.startedAt, p.updatedAt);
  }
  if (total > 0) writeFileSync(p.total, String(total), { mode: 0o666 });
}
