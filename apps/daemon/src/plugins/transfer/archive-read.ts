/** Reading an image archive (OCI image layout tar, or `docker save`'s format) from a stream into
 *  the content store, as containerd's archive.ImportIndex does, with its hardening
 *  (CVE-2023-25153) and more:
 *  - only regular files are read; directories, devices and the like are passed over, symlinks
 *    only remembered (docker archives link shared layers);
 *  - a name that is absolute or climbs out with `..` refuses the whole archive;
 *  - `oci-layout`, `index.json` and `manifest.json` are read whole, at most JSON_LIMIT bytes;
 *  - `blobs/sha256/<hex>` entries stream into content with the tar header's size, and must hash
 *    to their name (a mismatch is refused, nothing of it kept);
 *  - other files a docker archive uses (`*.json`, `*.tar`, `*.tar.gz`) stream in with their
 *    digest computed; anything else is skipped unread.
 *  A gzip-compressed archive is recognised by its magic bytes. */
import { Readable } from "node:stream";
import { createGunzip } from "node:zlib";
import { BunkerError, invalidArgument, type Logger } from "@bunkerd/plugin-api";
import type { IngestApi } from "./fetch.ts";
import { TarReader } from "./tar-reader.ts";
import { writeBlob } from "./write-blob.ts";

/** containerd's jsonLimit for the archive's JSON files. */
export const JSON_LIMIT = 20 * 1024 * 1024;

export interface DockerManifestEntry {
  Config: string;
  RepoTags: string[];
  Layers: string[];
}

export interface ArchiveContents {
  /** `oci-layout`'s imageLayoutVersion, when there was one. */
  layoutVersion?: string;
  /** index.json, stored as a blob. */
  index?: { digest: string; size: number };
  /** manifest.json (docker archive). */
  dockerManifests?: DockerManifestEntry[];
  /** Stored files by cleaned name (blobs and docker archive members), symlinks resolved. */
  files: Map<string, { digest: string; size: number }>;
}

export interface ReadArchiveOptions {
  ns: string;
  lease?: string;
  signal?: AbortSignal;
  log?: Logger;
}

/** The entry name, cleaned as Go's path.Clean does; refused when it leaves the archive. */
export function cleanName(name: string): string {
  if (name.startsWith("/")) throw invalidArgument(`tar entry ${JSON.stringify(name)}: absolute path`);
  const parts: string[] = [];
  for (const p of name.split("/")) {
    if (p === "" || p === ".") continue;
    if (p === "..") throw invalidArgument(`tar entry ${JSON.stringify(name)}: path escapes the archive`);
    parts.push(p);
  }
  return parts.join("/");
}

const BLOB_RE = /^blobs\/([a-z0-9]+)\/([^/]+)$/;
const DOCKER_MEMBER_RE = /(\.json|\.tar|\.tar\.gz|\.tgz)$/;

function parseJson<T>(bytes: Uint8Array, what: string): T {
  try {
    return JSON.parse(new TextDecoder().decode(bytes)) as T;
  } catch (e) {
    throw invalidArgument(`untar ${what}: ${(e as Error).message}`);
  }
}

/** Yields `source`, gunzipped when it starts with gzip's magic bytes. */
export async function* maybeGunzip(source: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  const it = source[Symbol.asyncIterator]();
  let first = await it.next();
  while (!first.done && first.value.length < 2) {
    const more = await it.next();
    if (more.done) break;
    const joined = new Uint8Array(first.value.length + more.value.length);
    joined.set(first.value);
    joined.set(more.value, first.value.length);
    first = { done: false, value: joined };
  }
  if (first.done) return;
  const head = first.value;
  const rest = (async function* () {
    yield head;
    for (;;) {
      const n = await it.next();
      if (n.done) return;
      yield n.value;
    }
  })();
  if (head[0] !== 0x1f || head[1] !== 0x8b) {
    yield* rest;
    return;
  }
  const gunzip = Readable.from(rest).pipe(createGunzip());
  try {
    for await (const c of gunzip) yield new Uint8Array(c as Buffer);
  } catch (e) {
    if (e instanceof BunkerError) throw e;
    throw invalidArgument(`archive is not valid gzip: ${(e as Error).message}`);
  }
}

export async function readArchive(
  ingest: IngestApi,
  source: AsyncIterable<Uint8Array>,
  o: ReadArchiveOptions,
): Promise<ArchiveContents> {
  const tar = new TarReader(maybeGunzip(source));
  const out: ArchiveContents = { files: new Map() };
  const symlinks = new Map<string, string>();
  for (;;) {
    o.signal?.throwIfAborted();
    const entry = await tar.next();
    if (!entry) break;
    const name = cleanName(entry.name);
    if (entry.type === "symlink") {
      const target = entry.linkname.startsWith("/")
        ? entry.linkname
        : `${name.split("/").slice(0, -1).join("/")}/${entry.linkname}`;
      symlinks.set(name, cleanName(target));
      continue;
    }
    if (entry.type !== "file") continue;
    if (name === "oci-layout") {
      const layout = parseJson<{ imageLayoutVersion?: unknown }>(
        await tar.readAll(JSON_LIMIT, "oci-layout"),
        `oci layout "${entry.name}"`,
      );
      out.layoutVersion = typeof layout.imageLayoutVersion === "string" ? layout.imageLayoutVersion : "";
      continue;
    }
    if (name === "manifest.json") {
      const m = parseJson<unknown>(
        await tar.readAll(JSON_LIMIT, "manifest.json"),
        `manifest "${entry.name}"`,
      );
      out.dockerManifests = parseDockerManifests(m);
      continue;
    }
    if (name === "index.json") {
      const bytes = await tar.readAll(JSON_LIMIT, "index.json");
      const digest = await writeBlob(ingest, once(bytes.slice()), {
        ns: o.ns,
        lease: o.lease,
        ref: "tar-index.json",
        size: bytes.length,
        signal: o.signal,
      });
      out.index = { digest, size: bytes.length };
      continue;
    }
    const blob = BLOB_RE.exec(name);
    let expected: string | undefined;
    if (blob) {
      const [, alg, hex] = blob;
      if (alg !== "sha256")
        throw invalidArgument(`tar entry "${entry.name}": unsupported digest algorithm ${alg}`);
      if (!/^[a-f0-9]{64}$/.test(hex!))
        throw invalidArgument(`tar entry "${entry.name}": not a sha256 digest`);
      expected = `sha256:${hex}`;
    } else if (!DOCKER_MEMBER_RE.test(name)) {
      o.log?.debug?.("archive entry skipped", { name: entry.name });
      continue;
    }
    let digest: string;
    try {
      digest = await writeBlob(ingest, tar.body(), {
        ns: o.ns,
        lease: o.lease,
        ref: `tar-${name}`,
        size: entry.size,
        expected,
        signal: o.signal,
      });
    } catch (e) {
      throw wrapIngest(entry.name, e);
    }
    out.files.set(name, { digest, size: entry.size });
  }
  for (const [name, target] of symlinks) {
    const f = out.files.get(target);
    if (f) out.files.set(name, f);
  }
  return out;
}

function wrapIngest(name: string, e: unknown): unknown {
  if (!(e instanceof BunkerError)) return e;
  return new BunkerError(e.kind, `failed to ingest "${name}": ${e.message}`, { cause: e });
}

async function* once(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  yield bytes;
}

function parseDockerManifests(doc: unknown): DockerManifestEntry[] {
  if (!Array.isArray(doc)) throw invalidArgument("untar manifest.json: must be a list");
  return doc.map((m, i) => {
    const e = (m ?? {}) as Record<string, unknown>;
    const strings = (v: unknown, field: string) => {
      if (v === undefined || v === null) return [];
      if (!Array.isArray(v) || v.some((s) => typeof s !== "string"))
        throw invalidArgument(`manifest.json[${i}].${field}: must be a list of strings`);
      return v as string[];
    };
    if (typeof e.Config !== "string" || e.Config === "")
      throw invalidArgument(`manifest.json[${i}].Config: must be a file name`);
    return {
      Config: e.Config,
      RepoTags: strings(e.RepoTags, "RepoTags"),
      Layers: strings(e.Layers, "Layers"),
    };
  });
}
