/** Reading and writing blobs through the Content service. Writes go in messages of at most
 *  64 KiB: Bun's http2 client stalls on client-streamed messages above ~128 KiB (BUN-NOTES). */
import { Content, WriteAction } from "@bunkerd/proto/containerd/services/content/v1/content_pb.ts";
import type { Daemon } from "../cli/client.ts";
import { isAlreadyExists, isNotFound } from "../cli/errors.ts";

export const WRITE_CHUNK = 64 * 1024;

export interface Desc {
  mediaType: string;
  digest: string;
  size: number;
}

/** The blob's bytes as a stream of chunks. */
export async function* readContent(
  d: Daemon,
  digest: string,
  signal?: AbortSignal,
): AsyncIterable<Uint8Array> {
  for await (const r of d.client(Content).read({ digest, offset: 0n, size: 0n }, { signal })) yield r.data;
}

export async function readBlob(d: Daemon, digest: string): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let n = 0;
  for await (const c of readContent(d, digest)) {
    parts.push(c);
    n += c.length;
  }
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Small blobs read as JSON (manifests, indexes, configs), kept per connection for the process's
 *  life: blobs are content-addressed, and images that share a manifest (tags of one image) would
 *  otherwise read it once each (`images ls`). */
const jsonBlobs = new WeakMap<Daemon, Map<string, Promise<Uint8Array>>>();

export function readSmallBlob(d: Daemon, digest: string): Promise<Uint8Array> {
  let cache = jsonBlobs.get(d);
  if (!cache) {
    cache = new Map();
    jsonBlobs.set(d, cache);
  }
  let blob = cache.get(digest);
  if (!blob) {
    blob = readBlob(d, digest);
    cache.set(digest, blob);
    blob.catch(() => cache.delete(digest));
  }
  return blob;
}

export async function readJSON<T>(d: Daemon, digest: string): Promise<T> {
  return JSON.parse(new TextDecoder().decode(await readSmallBlob(d, digest))) as T;
}

/** Whether the store has the blob (in this namespace). */
export async function hasContent(d: Daemon, digest: string): Promise<boolean> {
  try {
    await d.client(Content).info({ digest });
    return true;
  } catch (e) {
    if (isNotFound(e)) return false;
    throw e;
  }
}

/** Re-chunks a byte stream into pieces of at most `max` bytes. */
export async function* rechunk(
  source: AsyncIterable<Uint8Array>,
  max = WRITE_CHUNK,
): AsyncIterable<Uint8Array> {
  for await (const c of source) {
    for (let o = 0; o < c.length; o += max) yield c.subarray(o, Math.min(c.length, o + max));
  }
}

export interface WriteOptions {
  /** Ingest ref; unique per blob by default. */
  ref?: string;
  /** Expected digest and size, verified by the daemon on commit (empty/0: not checked). */
  expected?: string;
  total?: number;
  labels?: Record<string, string>;
  /** Called with the bytes written so far. */
  onProgress?: (written: number) => void;
  signal?: AbortSignal;
}

/** Drops the first `n` bytes of a stream. */
async function* skip(source: AsyncIterable<Uint8Array>, n: number): AsyncIterable<Uint8Array> {
  for await (const c of source) {
    if (n >= c.length) {
      n -= c.length;
      continue;
    }
    yield n > 0 ? c.subarray(n) : c;
    n = 0;
  }
}

/** Writes `source` into the content store and commits it; returns the committed digest. The
 *  first message asks the ingest's status and writing resumes at its offset (as Go's
 *  content.Copy does: a ref may hold a partial write, or a blob the store has already). A blob
 *  that already exists is not an error. */
export async function writeContent(
  d: Daemon,
  source: AsyncIterable<Uint8Array> | Uint8Array,
  o: WriteOptions = {},
): Promise<string> {
  const ref = o.ref ?? `bctr-${o.expected ?? crypto.randomUUID()}`;
  const total = BigInt(o.total ?? 0);
  const expected = o.expected ?? "";
  let written = 0;
  let started: (offset: number) => void = () => {};
  const offset = new Promise<number>((r) => {
    started = r;
  });
  async function* requests() {
    yield { action: WriteAction.STAT, ref, total, expected };
    written = await offset;
    const bytes =
      source instanceof Uint8Array
        ? [source.subarray(Math.min(written, source.length))]
        : skip(hashed(source), written);
    for await (const data of rechunk(bytes as AsyncIterable<Uint8Array>)) {
      yield { action: WriteAction.WRITE, ref, offset: BigInt(written), data, total, expected };
      written += data.length;
      o.onProgress?.(written);
    }
    yield {
      action: WriteAction.COMMIT,
      ref,
      offset: BigInt(written),
      total: BigInt(written),
      expected,
      labels: o.labels ?? {},
    };
  }
  // Our own digest of what was sent: the daemon names none when the blob already exists.
  const hasher = new Bun.CryptoHasher("sha256");
  if (source instanceof Uint8Array) hasher.update(source);
  async function* hashed(src: AsyncIterable<Uint8Array>) {
    for await (const c of src) {
      hasher.update(c);
      yield c;
    }
  }
  let digest = expected;
  try {
    let first = true;
    for await (const r of d.client(Content).write(requests(), { signal: o.signal })) {
      if (first) {
        first = false;
        started(Number(r.offset));
      }
      if (r.action === WriteAction.COMMIT && r.digest) digest = r.digest;
    }
  } catch (e) {
    started(0);
    if (!isAlreadyExists(e)) throw e;
    digest ||= `sha256:${hasher.digest("hex")}`;
    // Already stored: make sure the labels asked for are on it.
    if (o.labels && Object.keys(o.labels).length) await setLabels(d, digest, o.labels);
  }
  return digest;
}

/** Sets labels on a blob (merging; an empty value clears the label). */
export async function setLabels(d: Daemon, digest: string, labels: Record<string, string>) {
  const paths = Object.keys(labels).map((k) => `labels.${k}`);
  const set = Object.fromEntries(Object.entries(labels).filter(([, v]) => v !== ""));
  return d.client(Content).update({ info: { digest, labels: set }, updateMask: { paths } });
}
