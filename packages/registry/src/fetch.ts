/** Fetching content by descriptor, as containerd's dockerFetcher does — the descriptor's
 *  `urls` first (foreign layers), then `manifests/<digest>` for manifest types, then
 *  `blobs/<digest>`, on each host that may pull — with every byte verified against the
 *  descriptor while it streams. A stream that breaks is picked up again with `Range` from
 *  where it stopped (bounded retries); a server that ignores `Range` has the bytes before the
 *  offset skipped. */

import { BunkerError, invalidArgument, Kind, notFound } from "@bunkerd/plugin-api";
import { validateDigest } from "./digest.ts";
import type { RegistryHost } from "./hosts.ts";
import type { Descriptor } from "./manifest.ts";
import { isManifestOrIndexType } from "./media-types.ts";
import { hostsWith, type Remote, repositoryScope, requestUrl } from "./remote.ts";
import { type Session, sleep } from "./http/session.ts";
import { transportError, unexpectedStatus } from "./http/transport.ts";
import { collect, Verifier } from "./verify.ts";

export type FetchOptions = {
  /** Start at this byte (resuming an ingest). */
  offset?: number;
  /** The `offset` bytes the caller already holds, so that the whole blob is verified. */
  prefix?: Uint8Array | AsyncIterable<Uint8Array>;
  /** False lets `offset` go without `prefix`: only the size is checked then, and the caller
   *  verifies the digest over the whole blob itself. */
  verifyDigest?: boolean;
  signal?: AbortSignal;
};

export type Fetcher = {
  /** The descriptor's bytes, verified: the iterable throws at its end on a digest or size
   *  mismatch, and as soon as more bytes arrive than the descriptor's size. */
  fetch(desc: Descriptor, options?: FetchOptions): AsyncIterable<Uint8Array>;
  /** The whole content in memory, verified (manifests, indexes, configs). */
  fetchBytes(desc: Descriptor, options?: { signal?: AbortSignal }): Promise<Uint8Array>;
};

type Opened = { body: ReadableStream<Uint8Array>; skip: number; url: string };

function checkDescriptor(desc: Descriptor): void {
  validateDigest(desc.digest, "descriptor digest");
  if (!Number.isSafeInteger(desc.size) || desc.size < 0) {
    throw invalidArgument(`descriptor ${desc.digest}: size must be a non-negative integer, got ${desc.size}`);
  }
}

async function* chunksOf(source: Uint8Array | AsyncIterable<Uint8Array>): AsyncIterable<Uint8Array> {
  if (source instanceof Uint8Array) yield source;
  else yield* source;
}

export function createFetcher(session: Session, remote: Remote): Fetcher {
  const scopes = [repositoryScope(remote, false)];

  /** One GET at `offset` on `url`; undefined on 404 so the caller tries elsewhere. */
  async function openAt(
    host: RegistryHost,
    url: string,
    desc: Descriptor,
    offset: number,
    signal: AbortSignal | undefined,
    authorize = true,
  ): Promise<Opened | undefined> {
    const headers: Record<string, string> = { Accept: `${desc.mediaType}, *` };
    if (offset > 0) headers.Range = `bytes=${offset}-`;
    const response = await session.send({ method: "GET", host, url, headers, scopes, signal, authorize });
    if (response.status === 404) {
      await response.body?.cancel().catch(() => {});
      return undefined;
    }
    if (response.status > 299) throw await unexpectedStatus("GET", url, response);
    let skip = 0;
    if (offset > 0) {
      // "Accept-Ranges: bytes" cannot be trusted; the Content-Range must be checked.
      const range = response.headers.get("content-range");
      if (range) {
        if (!range.startsWith(`bytes ${offset}-`)) {
          await response.body?.cancel().catch(() => {});
          throw new BunkerError(Kind.Unknown, `unhandled content range in response: ${range}`);
        }
      } else {
        skip = offset;
      }
    }
    return { body: response.body ?? new ReadableStream({ start: (c) => c.close() }), skip, url };
  }

  async function open(desc: Descriptor, offset: number, signal?: AbortSignal): Promise<Opened> {
    for (const u of desc.urls ?? []) {
      let parsed: URL;
      try {
        parsed = new URL(u);
      } catch {
        continue;
      }
      if (parsed.protocol !== "http:" && parsed.protocol !== "https:") continue;
      const host: RegistryHost = {
        scheme: parsed.protocol === "http:" ? "http" : "https",
        host: parsed.host,
        path: "",
        capabilities: ["pull"],
      };
      const opened = await openAt(host, parsed.href, desc, offset, signal, false);
      if (opened) return opened;
    }
    const hosts = hostsWith(remote, "pull");
    if (hosts.length === 0) throw notFound(`${remote.name}: no pull hosts`);
    if (isManifestOrIndexType(desc.mediaType)) {
      for (const host of hosts) {
        const opened = await openAt(
          host,
          requestUrl(remote, host, "manifests", desc.digest),
          desc,
          offset,
          signal,
        );
        if (opened) return opened;
      }
    }
    for (const host of hosts) {
      const opened = await openAt(host, requestUrl(remote, host, "blobs", desc.digest), desc, offset, signal);
      if (opened) return opened;
    }
    throw notFound(`could not fetch content descriptor ${desc.digest} (${desc.mediaType}) from remote`);
  }

  async function* fetch(desc: Descriptor, options: FetchOptions = {}): AsyncGenerator<Uint8Array> {
    checkDescriptor(desc);
    const offset = options.offset ?? 0;
    if (!Number.isSafeInteger(offset) || offset < 0 || offset > desc.size) {
      throw invalidArgument(`fetch ${desc.digest}: offset ${offset} outside 0..${desc.size}`);
    }
    const verifyDigest = options.verifyDigest ?? true;
    // Without the prefix only the size can be checked; a counting verifier stands in.
    const verifier = new Verifier(
      offset > 0 && !options.prefix ? { digest: desc.digest, size: desc.size - offset } : desc,
    );
    if (offset > 0) {
      if (options.prefix) {
        for await (const chunk of chunksOf(options.prefix)) verifier.update(chunk);
        if (verifier.offset !== offset) {
          throw invalidArgument(
            `fetch ${desc.digest}: prefix has ${verifier.offset} bytes, offset is ${offset}`,
          );
        }
      } else if (verifyDigest) {
        throw invalidArgument(
          `fetch ${desc.digest} from offset ${offset}: the first ${offset} bytes (prefix) are needed to verify the digest`,
        );
      }
    }
    let position = offset;
    let resumes = 0;
    while (position < desc.size) {
      const opened = await open(desc, position, options.signal);
      const reader = opened.body.getReader();
      let skip = opened.skip;
      let failure: unknown;
      let done = false;
      try {
        for (;;) {
          let result: Awaited<ReturnType<typeof reader.read>>;
          try {
            result = await reader.read();
          } catch (e) {
            failure = e;
            break;
          }
          if (result.done) {
            done = true;
            break;
          }
          let chunk = result.value;
          if (skip > 0) {
            const n = Math.min(skip, chunk.byteLength);
            skip -= n;
            chunk = chunk.subarray(n);
            if (chunk.byteLength === 0) continue;
          }
          verifier.update(chunk);
          position += chunk.byteLength;
          yield chunk;
        }
      } finally {
        if (!done) await reader.cancel().catch(() => {});
        reader.releaseLock();
      }
      if (failure === undefined) {
        if (position >= desc.size) break;
        failure = new Error(`unexpected end of stream at byte ${position} of ${desc.size}`);
      }
      if (options.signal?.aborted) throw transportError("GET", opened.url, options.signal.reason);
      if (resumes >= session.retries) throw transportError("GET", opened.url, failure);
      await sleep(session.backoff(resumes++), options.signal);
    }
    if (offset > 0 && !options.prefix) {
      // Size only: the digest needs bytes this fetch never saw.
      if (verifier.offset !== desc.size - offset) verifier.finish();
      return;
    }
    verifier.finish();
  }

  return {
    fetch,
    fetchBytes: (desc, options = {}) => collect(fetch(desc, { signal: options.signal }), desc.size),
  };
}
