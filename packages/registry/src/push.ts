/** Pushing blobs and manifests (containerd's dockerPusher, on the first host that may push):
 *  a HEAD says whether the registry has the content; a blob goes up through an upload session
 *  (`POST blobs/uploads/`), mounted from another repository of the same registry when the
 *  descriptor says where it came from, else sent whole with one `PUT ?digest=` or, when large,
 *  in `PATCH` chunks closed by an empty `PUT ?digest=`. The bytes are verified against the
 *  descriptor on the way: a mismatch cancels the session before anything is committed. */

import { BunkerError, failedPrecondition, invalidArgument, Kind, notFound } from "@bunkerd/plugin-api";
import { digestOf, validateDigest } from "./digest.ts";
import type { RegistryHost } from "./hosts.ts";
import type { Descriptor } from "./manifest.ts";
import { isManifestOrIndexType, isSchema1Type } from "./media-types.ts";
import { hostsWith, parseRemoteName, type Remote, repositoryScope, requestUrl } from "./remote.ts";
import type { Session } from "./http/session.ts";
import { unexpectedStatus } from "./http/transport.ts";
import { Verifier } from "./verify.ts";

/** The label containerd records on pulled content: `containerd.io/distribution.source.<host>`
 *  = comma-separated repositories (host without port, as containerd keys it). */
export const DISTRIBUTION_SOURCE_LABEL = "containerd.io/distribution.source";

/** Blobs up to this size go in one PUT; larger ones in PATCH chunks of this size. */
export const DEFAULT_CHUNK_SIZE = 16 * 1024 * 1024;

export type PushSource = AsyncIterable<Uint8Array> | (() => AsyncIterable<Uint8Array>);

export type PushOptions = {
  /** Repositories on the same registry to try a cross-repository mount from; by default the
   *  descriptor's distribution-source annotation is used. */
  mountFrom?: string[];
  chunkSize?: number;
  signal?: AbortSignal;
};

export type PushResult = { status: "exists" | "mounted" | "pushed"; digest: string };

export type Pusher = {
  /** Whether the registry already has this content in the repository. */
  exists(desc: Descriptor, options?: { signal?: AbortSignal }): Promise<boolean>;
  /** Uploads a blob (layer, config) unless the registry has it. `source` is only read when an
   *  upload is needed; pass a function to open it lazily. */
  push(desc: Descriptor, source: PushSource, options?: PushOptions): Promise<PushResult>;
  /** PUTs a manifest or index: under `ref`'s tag (a bare tag, or a reference to this
   *  repository), or by digest when `ref` is undefined or names a digest. */
  pushManifest(ref: string | undefined, desc: Descriptor, bytes: Uint8Array): Promise<PushResult>;
};

/** containerd's selectRepositoryMountCandidate: of the source repositories on this host, the
 *  one sharing the longest path prefix with the target (never the target itself). */
export function selectMountCandidate(
  target: { hostname: string; repository: string },
  annotations: Record<string, string> | undefined,
): string | undefined {
  const host = target.hostname.replace(/:\d+$/, "");
  const label = annotations?.[`${DISTRIBUTION_SOURCE_LABEL}.${host}`];
  if (!label) return undefined;
  const components = target.repository.split("/");
  let best = -1;
  let match: string | undefined;
  for (const repo of label.split(",")) {
    if (repo === "" || repo === target.repository) continue;
    const other = repo.split("/");
    let n = 0;
    while (n < components.length && n < other.length && components[n] === other[n]) n++;
    if (n >= best) {
      best = n;
      match = repo;
    }
  }
  return match;
}

/** Resolves an upload `Location` against the host; a different host or scheme gets no
 *  credentials (containerd strips the authorizer then). */
function uploadTarget(
  host: RegistryHost,
  location: string | null,
): { url: URL; host: RegistryHost; authorize: boolean } {
  if (!location) throw new BunkerError(Kind.Unknown, "registry gave no Location for the upload session");
  const base = `${host.scheme}://${host.host}`;
  const url = new URL(
    location.startsWith("/") || location.includes("://") ? location : `${host.scheme}://${location}`,
    base,
  );
  const same = url.host === host.host && url.protocol === `${host.scheme}:`;
  return {
    url,
    host: same ? host : { ...host, scheme: url.protocol === "http:" ? "http" : "https", host: url.host },
    authorize: same,
  };
}

function withQuery(url: URL, key: string, value: string): string {
  const u = new URL(url);
  u.searchParams.append(key, value);
  return u.href;
}

async function* openSource(source: PushSource): AsyncIterable<Uint8Array> {
  yield* typeof source === "function" ? source() : source;
}

export function createPusher(session: Session, remote: Remote): Pusher {
  const scopes = [repositoryScope(remote, true)];

  function pushHost(): RegistryHost {
    const host = hostsWith(remote, "push")[0];
    if (!host) throw notFound(`${remote.name}: no push hosts`);
    return host;
  }

  async function exists(desc: Descriptor, options: { signal?: AbortSignal } = {}): Promise<boolean> {
    validateDigest(desc.digest, "descriptor digest");
    const host = pushHost();
    const url = requestUrl(
      remote,
      host,
      isManifestOrIndexType(desc.mediaType) ? "manifests" : "blobs",
      desc.digest,
    );
    const response = await session.send({
      method: "HEAD",
      host,
      url,
      headers: { Accept: `${desc.mediaType}, */*` },
      scopes,
      signal: options.signal,
    });
    await response.body?.cancel().catch(() => {});
    if (response.status === 200) return true;
    if (response.status === 404) return false;
    throw await unexpectedStatus("HEAD", url, response);
  }

  /** Starts an upload session, mounting from `from` when given. 201 means mounted. */
  async function startUpload(
    host: RegistryHost,
    desc: Descriptor,
    from: string | undefined,
    signal?: AbortSignal,
  ) {
    let url = requestUrl(remote, host, "blobs", "uploads/");
    let reqScopes = scopes;
    if (from) {
      url += `${url.includes("?") ? "&" : "?"}mount=${desc.digest}&from=${from}`;
      reqScopes = [...scopes, `repository:${from}:pull`];
    }
    const response = await session.send({
      method: "POST",
      host,
      url,
      scopes: reqScopes,
      retryable: true,
      signal,
    });
    return { response, url };
  }

  async function push(desc: Descriptor, source: PushSource, options: PushOptions = {}): Promise<PushResult> {
    validateDigest(desc.digest, "descriptor digest");
    if (!Number.isSafeInteger(desc.size) || desc.size < 0) {
      throw invalidArgument(`descriptor ${desc.digest}: size must be a non-negative integer`);
    }
    if (isManifestOrIndexType(desc.mediaType)) {
      throw invalidArgument(`${desc.digest}: ${desc.mediaType} is a manifest; push it with pushManifest`);
    }
    const { signal } = options;
    const chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
    const host = pushHost();
    try {
      if (await exists(desc, { signal })) return { status: "exists", digest: desc.digest };
    } catch (e) {
      // containerd carries on when the existence check is refused; the upload will tell.
      if (!(e instanceof BunkerError && e.kind === Kind.Unauthenticated)) throw e;
    }

    const from = options.mountFrom
      ? selectMountCandidate(remote.spec, {
          [`${DISTRIBUTION_SOURCE_LABEL}.${remote.spec.hostname.replace(/:\d+$/, "")}`]:
            options.mountFrom.join(","),
        })
      : selectMountCandidate(remote.spec, desc.annotations);
    let started: Awaited<ReturnType<typeof startUpload>> | undefined;
    if (from) {
      started = await startUpload(host, desc, from, signal);
      if (started.response.status === 401) {
        // The source repository may be private: upload without the mount.
        await started.response.body?.cancel().catch(() => {});
        started = undefined;
      }
    }
    started ??= await startUpload(host, desc, undefined, signal);
    const { response } = started;
    await response.body?.cancel().catch(() => {});
    if (response.status === 201) return { status: from ? "mounted" : "exists", digest: desc.digest };
    if (![200, 202, 204].includes(response.status))
      throw await unexpectedStatus("POST", started.url, response);

    let target = uploadTarget(host, response.headers.get("location"));
    const verifier = new Verifier(desc);
    const cancel = async () => {
      await session
        .send({
          method: "DELETE",
          host: target.host,
          url: target.url.href,
          scopes,
          authorize: target.authorize,
          retryable: false,
        })
        .then((r) => r.body?.cancel())
        .catch(() => {});
    };

    let body: Uint8Array | undefined;
    try {
      if (desc.size <= chunkSize) {
        // Small enough to hold: read and verify it all, then one PUT.
        const whole = new Uint8Array(desc.size);
        for await (const chunk of openSource(source)) {
          const at = verifier.offset;
          verifier.update(chunk);
          whole.set(chunk, at);
        }
        verifier.finish();
        body = whole;
      } else {
        let buffer = new Uint8Array(chunkSize);
        let filled = 0;
        let sent = 0;
        const patch = async (bytes: Uint8Array) => {
          const r = await session.send({
            method: "PATCH",
            host: target.host,
            url: target.url.href,
            headers: {
              "Content-Type": "application/octet-stream",
              "Content-Range": `${sent}-${sent + bytes.byteLength - 1}`,
            },
            body: bytes,
            scopes,
            authorize: target.authorize,
            retryable: false,
            signal,
          });
          await r.body?.cancel().catch(() => {});
          if (r.status !== 202 && r.status !== 204) throw await unexpectedStatus("PATCH", target.url.href, r);
          sent += bytes.byteLength;
          if (r.headers.get("location")) target = uploadTarget(target.host, r.headers.get("location"));
        };
        for await (let chunk of openSource(source)) {
          verifier.update(chunk);
          while (chunk.byteLength > 0) {
            const n = Math.min(chunk.byteLength, chunkSize - filled);
            buffer.set(chunk.subarray(0, n), filled);
            filled += n;
            chunk = chunk.subarray(n);
            if (filled === chunkSize) {
              await patch(buffer);
              buffer = new Uint8Array(chunkSize);
              filled = 0;
            }
          }
        }
        verifier.finish();
        if (filled > 0) await patch(buffer.subarray(0, filled));
      }
    } catch (e) {
      await cancel();
      throw e;
    }

    const putUrl = withQuery(target.url, "digest", desc.digest);
    const put = await session.send({
      method: "PUT",
      host: target.host,
      url: putUrl,
      headers: { "Content-Type": "application/octet-stream" },
      body: body ?? new Uint8Array(),
      scopes,
      authorize: target.authorize,
      retryable: false,
      signal,
    });
    await put.body?.cancel().catch(() => {});
    if (![200, 201, 202, 204].includes(put.status)) throw await unexpectedStatus("PUT", putUrl, put);
    const got = put.headers.get("docker-content-digest");
    if (got && got !== desc.digest)
      throw failedPrecondition(`registry stored ${got}, expected ${desc.digest}`);
    return { status: "pushed", digest: desc.digest };
  }

  async function pushManifest(
    ref: string | undefined,
    desc: Descriptor,
    bytes: Uint8Array,
  ): Promise<PushResult> {
    validateDigest(desc.digest, "descriptor digest");
    if (isSchema1Type(desc.mediaType))
      throw invalidArgument(`${desc.digest}: schema 1 manifests are not supported`);
    if (
      bytes.byteLength !== desc.size ||
      digestOf(bytes, desc.digest.split(":")[0] as "sha256") !== desc.digest
    ) {
      throw failedPrecondition(
        `manifest bytes (${bytes.byteLength} bytes, ${digestOf(bytes)}) do not match the descriptor ${desc.digest} (${desc.size} bytes)`,
      );
    }
    let object = desc.digest;
    const tag = ref === undefined ? undefined : tagOf(ref, desc);
    if (tag) object = tag;
    const host = pushHost();
    const url = requestUrl(remote, host, "manifests", object);
    const response = await session.send({
      method: "PUT",
      host,
      url,
      headers: { "Content-Type": desc.mediaType },
      body: bytes,
      scopes,
      retryable: true,
    });
    await response.body?.cancel().catch(() => {});
    if (![200, 201, 202, 204].includes(response.status)) throw await unexpectedStatus("PUT", url, response);
    const got = response.headers.get("docker-content-digest");
    if (got && got !== desc.digest)
      throw failedPrecondition(`registry stored manifest ${got}, expected ${desc.digest}`);
    return { status: "pushed", digest: desc.digest };
  }

  /** The tag to PUT under: a bare tag, or the tag of a reference to this same repository;
   *  undefined (by digest) for a digest or a reference without a tag. */
  function tagOf(ref: string, desc: Descriptor): string | undefined {
    if (/^[\w][\w.-]{0,127}$/.test(ref)) return ref;
    if (/^[a-z0-9]+:[a-f0-9]+$/.test(ref) || ref.startsWith("@")) {
      const digest = ref.replace(/^@/, "");
      if (validateDigest(digest, "manifest reference") !== desc.digest) {
        throw invalidArgument(`manifest reference ${JSON.stringify(ref)} does not name ${desc.digest}`);
      }
      return undefined;
    }
    const { spec } = parseRemoteName(ref);
    if (spec.locator !== remote.spec.locator) {
      throw invalidArgument(`manifest reference ${JSON.stringify(ref)} is not in ${remote.spec.locator}`);
    }
    if (spec.digest !== undefined && spec.digest !== desc.digest) {
      throw invalidArgument(`manifest reference ${JSON.stringify(ref)} does not name ${desc.digest}`);
    }
    return spec.tag || undefined;
  }

  return { exists, push, pushManifest };
}
