/** Resolving a reference to a descriptor, as containerd's dockerResolver.Resolve does: HEAD
 *  `manifests/<tag>` on the hosts that may resolve (or `manifests/<digest>`, then
 *  `blobs/<digest>`, on any host that may pull), trusting Docker-Content-Digest only for a tag;
 *  a GET when the HEAD gives no digest or no size. A 404 moves on to the next host. */

import { BunkerError, invalidArgument, Kind, notFound } from "@bunkerd/plugin-api";
import { isDigest, validateDigest } from "./digest.ts";
import { type Descriptor, schema1Refused } from "./manifest.ts";
import { isSchema1Type, manifestMediaType, RESOLVE_ACCEPT } from "./media-types.ts";
import { hostsWith, type Remote, repositoryScope, requestUrl } from "./remote.ts";
import { accessDenied, type Session } from "./http/session.ts";
import { unexpectedStatus } from "./http/transport.ts";
import { Verifier } from "./verify.ts";

/** The largest manifest accepted while resolving (containerd's MaxManifestSize). */
export const MAX_MANIFEST_SIZE = 4 * 1048 * 1048;

export type Resolved = { name: string; desc: Descriptor };

async function readLimited(response: Response, limit: number): Promise<Uint8Array | undefined> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  if (!response.body) return new Uint8Array();
  const reader = response.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      await reader.cancel().catch(() => {});
      return undefined;
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks);
}

export async function resolve(
  session: Session,
  remote: Remote,
  options: { accept?: string; signal?: AbortSignal } = {},
): Promise<Resolved> {
  const { spec, name } = remote;
  if (spec.object === "") throw invalidArgument(`reference ${JSON.stringify(name)}: object required`);
  const digest =
    spec.digest !== undefined ? validateDigest(spec.digest, `reference ${JSON.stringify(name)}`) : undefined;
  const paths = digest
    ? [
        ["manifests", digest],
        ["blobs", digest],
      ]
    : [["manifests", spec.tag]];
  const hosts = digest ? hostsWith(remote, "pull") : hostsWith(remote, "pull", "resolve");
  if (hosts.length === 0) throw notFound(`${name}: no resolve hosts`);
  const scopes = [repositoryScope(remote, false)];
  const accept = options.accept ?? RESOLVE_ACCEPT;
  let lastErr: BunkerError | undefined;
  for (const parts of paths) {
    for (const host of hosts) {
      const url = requestUrl(remote, host, ...parts);
      const head = await send(session, name, {
        method: "HEAD",
        host,
        url,
        headers: { Accept: accept },
        scopes,
        signal: options.signal,
      });
      await head.body?.cancel().catch(() => {});
      if (head.status === 404) continue;
      // As containerd: a 4xx/5xx is remembered and the next path or host tried (a registry may
      // answer 500 to manifests/<digest> of a plain blob, which blobs/<digest> then serves).
      if (head.status > 399) {
        lastErr ??= await statusError(name, "HEAD", url, head);
        continue;
      }
      if (head.status > 299) throw await statusError(name, "HEAD", url, head);
      let mediaType = manifestMediaType(head.headers.get("content-type"));
      const length = head.headers.get("content-length");
      let size = length !== null && /^\d+$/.test(length) ? Number(length) : -1;
      let dgst = digest;
      if (!dgst) {
        // Only a host trusted to resolve got here: its digest header names the content.
        const header = head.headers.get("docker-content-digest");
        if (header && size !== -1) {
          if (!isDigest(header))
            throw invalidArgument(`${JSON.stringify(header)} in header not a valid digest`);
          dgst = header;
        }
      }
      if (isSchema1Type(mediaType)) throw schema1Refused(name);
      if (!dgst || size === -1) {
        const get = await send(session, name, {
          method: "GET",
          host,
          url,
          headers: { Accept: accept },
          scopes,
          signal: options.signal,
        });
        if (get.status === 404) {
          await get.body?.cancel().catch(() => {});
          continue;
        }
        if (get.status > 299) throw await statusError(name, "GET", url, get);
        mediaType = manifestMediaType(get.headers.get("content-type"));
        if (isSchema1Type(mediaType)) {
          await get.body?.cancel().catch(() => {});
          throw schema1Refused(name);
        }
        const body = await readLimited(get, MAX_MANIFEST_SIZE);
        if (!body) {
          lastErr ??= notFound(`rejecting manifest larger than ${MAX_MANIFEST_SIZE} bytes for ${name}`);
          continue;
        }
        size = body.byteLength;
        if (dgst) {
          // Asked by digest: what came back must be that content.
          const v = new Verifier({ digest: dgst, size });
          v.update(body);
          v.finish();
        } else {
          dgst = `sha256:${new Bun.CryptoHasher("sha256").update(body).digest("hex")}`;
        }
      }
      if (size > MAX_MANIFEST_SIZE) {
        lastErr ??= notFound(`rejecting ${size} byte manifest for ${name}`);
        continue;
      }
      return { name, desc: { mediaType, digest: dgst, size } };
    }
  }
  throw lastErr ?? notFound(name);
}

type SendArgs = Parameters<Session["send"]>[0];

async function send(session: Session, name: string, req: SendArgs): Promise<Response> {
  try {
    return await session.send(req);
  } catch (e) {
    if (e instanceof BunkerError && e.kind === Kind.Unauthenticated) throw accessDenied(name, e);
    throw e;
  }
}

async function statusError(
  name: string,
  method: string,
  url: string,
  response: Response,
): Promise<BunkerError> {
  const err = await unexpectedStatus(method, url, response);
  return response.status === 401 || response.status === 403 ? accessDenied(name, err) : err;
}
