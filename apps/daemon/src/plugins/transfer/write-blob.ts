/** Writing a stream of bytes of known size into the content store through an ingest session
 *  (containerd's content.WriteBlob), for blobs that come from an archive rather than a
 *  registry. The size is checked as bytes arrive, the digest at commit: checked against the
 *  expected one when the caller knows it (a `blobs/sha256/<hex>` entry) before the commit. The
 *  chunks go to the content worker in fresh WRITE_CHUNK buffers (they are transferred, not
 *  copied, so a view into a larger buffer must never be sent). */
import { BunkerError, invalidArgument, Kind } from "@bunkerd/plugin-api";
import { type IngestApi, WRITE_CHUNK } from "./fetch.ts";

export interface WriteBlobOptions {
  ns: string;
  lease?: string;
  ref: string;
  size: number;
  /** The digest the bytes must have; computed when absent. */
  expected?: string;
  labels?: Record<string, string>;
  signal?: AbortSignal;
}

const isKind = (e: unknown, kind: Kind) => e instanceof BunkerError && e.kind === kind;

/** Stores `source` (exactly `o.size` bytes) and answers its digest. A blob the namespace has
 *  already is not written again; its bytes are drained (they still have to be read past). */
export async function writeBlob(
  ingest: IngestApi,
  source: AsyncIterable<Uint8Array>,
  o: WriteBlobOptions,
): Promise<string> {
  const opened = await open(ingest, o);
  if (opened.exists) {
    // Stored already: the entry's bytes are still read past, and must be what they claim.
    const hasher = new Bun.CryptoHasher("sha256");
    let seen = 0;
    for await (const chunk of source) {
      o.signal?.throwIfAborted();
      hasher.update(chunk);
      seen += chunk.length;
    }
    const digest = `sha256:${hasher.digest("hex")}`;
    if (seen !== o.size || digest !== o.expected)
      throw invalidArgument(`${o.ref}: content has digest ${digest}, not ${o.expected}`);
    return digest;
  }
  const { id } = opened;
  // Hashed here even when expected, so a mismatch is refused before the commit, while the
  // session can still be dropped.
  const hasher = new Bun.CryptoHasher("sha256");
  let committed = false;
  try {
    // Complete already (another namespace holds the blob): the bytes are still read and
    // checked, but not written again. Any other partial ingest starts over.
    const complete = o.expected !== undefined && opened.offset === o.size && o.size > 0;
    if (opened.offset > 0 && !complete) await ingest.truncate(id, 0);
    let offset = 0;
    let buf = new Uint8Array(complete ? 0 : Math.min(WRITE_CHUNK, o.size));
    let filled = 0;
    const flush = async () => {
      const chunk = filled === buf.length ? buf : buf.slice(0, filled);
      offset += await ingest.write(id, offset, chunk);
      filled = 0;
      buf = new Uint8Array(Math.max(1, Math.min(WRITE_CHUNK, o.size - offset)));
    };
    let seen = 0;
    for await (let chunk of source) {
      o.signal?.throwIfAborted();
      seen += chunk.length;
      if (seen > o.size) throw invalidArgument(`${o.ref}: more than the ${o.size} bytes declared`);
      hasher.update(chunk);
      while (!complete && chunk.length > 0) {
        const n = Math.min(chunk.length, buf.length - filled);
        buf.set(chunk.subarray(0, n), filled);
        filled += n;
        chunk = chunk.subarray(n);
        if (filled === buf.length) await flush();
      }
    }
    if (!complete && filled > 0) await flush();
    if (seen !== o.size) throw invalidArgument(`${o.ref}: ${seen} bytes of the ${o.size} declared`);
    const digest = `sha256:${hasher.digest("hex")}`;
    if (o.expected && o.expected !== digest)
      throw invalidArgument(`${o.ref}: content has digest ${digest}, not ${o.expected}`);
    committed = true;
    try {
      return await ingest.commit(id, o.size, digest, o.labels);
    } catch (e) {
      if (isKind(e, Kind.AlreadyExists)) return digest;
      throw e;
    }
  } finally {
    // A refused blob leaves nothing behind: its partial ingest is dropped.
    if (!committed) await ingest.abort(id).catch(() => {});
  }
}

async function open(ingest: IngestApi, o: WriteBlobOptions) {
  for (let delay = 50; ; delay = Math.min(delay * 2, 1000)) {
    try {
      return await ingest.open(o.ns, o.ref, { total: o.size, expected: o.expected, lease: o.lease });
    } catch (e) {
      // Another writer holds the ref (an import of the same archive): wait for it.
      if (!isKind(e, Kind.Unavailable)) throw e;
      o.signal?.throwIfAborted();
      await Bun.sleep(delay);
    }
  }
}

/** Stores small bytes held in memory (a manifest or index made here). */
export function writeBytes(
  ingest: IngestApi,
  bytes: Uint8Array,
  o: Omit<WriteBlobOptions, "size">,
): Promise<string> {
  return writeBlob(
    ingest,
    (async function* () {
      yield bytes;
    })(),
    { ...o, size: bytes.length },
  );
}
