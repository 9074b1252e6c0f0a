/** A small Distribution API fake on Bun.serve, for what a real registry will not do on
 *  request: serve corrupted bytes, cut a stream short, ignore Range, answer 503, redirect blobs
 *  elsewhere, or serve schema 1. */

import type { Descriptor } from "../manifest.ts";
import type { Blob } from "./image.ts";

export type FakeRegistryOptions = {
  blobs?: Blob[];
  /** tag → the descriptor served for `manifests/<tag>` (its bytes must be in `blobs`). */
  tags?: Record<string, Descriptor>;
  /** digest → bytes served in place of the real ones. */
  corrupt?: Record<string, Uint8Array>;
  /** The first GET of each blob ends after this many bytes. */
  interruptAfter?: number;
  ignoreRange?: boolean;
  /** HEAD answers carry no Docker-Content-Digest. */
  headWithoutDigest?: boolean;
  /** The first N requests get 503. */
  failures?: number;
  /** Blob GETs are redirected (307) to this base URL + the request path. */
  redirectBlobsTo?: string;
  /** Runs first; a Response it returns is the answer. */
  intercept?: (req: Request, url: URL) => Response | undefined | Promise<Response | undefined>;
};

export type RequestRecord = { method: string; path: string; headers: Record<string, string> };

export type FakeRegistry = {
  host: string;
  url: string;
  requests: RequestRecord[];
  stop(): void;
};

/** A body that ends after `limit` bytes: the client sees the stream stop short. */
function truncated(bytes: Uint8Array, limit: number): ReadableStream<Uint8Array> {
  let sent = false;
  return new ReadableStream({
    async pull(c) {
      if (sent) {
        c.close();
        return;
      }
      c.enqueue(bytes.subarray(0, limit));
      sent = true;
      await Bun.sleep(5);
    },
  });
}

export function startFakeRegistry(options: FakeRegistryOptions = {}): FakeRegistry {
  const byDigest = new Map((options.blobs ?? []).map((b) => [b.desc.digest, b]));
  const requests: RequestRecord[] = [];
  const interrupted = new Set<string>();
  let failures = options.failures ?? 0;

  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      const url = new URL(req.url);
      const seen: Record<string, string> = {};
      req.headers.forEach((value, key) => {
        seen[key] = value;
      });
      requests.push({ method: req.method, path: url.pathname + url.search, headers: seen });
      const intercepted = await options.intercept?.(req, url);
      if (intercepted) return intercepted;
      if (failures > 0) {
        failures--;
        return new Response("busy", { status: 503 });
      }
      if (url.pathname === "/v2/") return Response.json({});
      const m = /^\/v2\/(.+)\/(manifests|blobs)\/([^/]+)$/.exec(url.pathname);
      if (!m)
        return Response.json({ errors: [{ code: "NAME_UNKNOWN", message: "not here" }] }, { status: 404 });
      const [, , kind, object] = m;
      const desc = object!.includes(":") ? byDigest.get(object!)?.desc : options.tags?.[object!];
      const blob = desc ? byDigest.get(desc.digest) : undefined;
      if (!desc || !blob) {
        return Response.json(
          { errors: [{ code: "MANIFEST_UNKNOWN", message: "manifest unknown" }] },
          { status: 404 },
        );
      }
      const bytes = options.corrupt?.[desc.digest] ?? blob.bytes;
      const headers: Record<string, string> = {
        "Content-Type": kind === "manifests" ? desc.mediaType : "application/octet-stream",
        "Docker-Content-Digest": desc.digest,
      };
      if (req.method === "HEAD") {
        if (options.headWithoutDigest) delete headers["Docker-Content-Digest"];
        return new Response(null, { headers: { ...headers, "Content-Length": String(bytes.byteLength) } });
      }
      if (kind === "blobs" && options.redirectBlobsTo) {
        return new Response(null, {
          status: 307,
          headers: { Location: `${options.redirectBlobsTo}${url.pathname}` },
        });
      }
      const range = /^bytes=(\d+)-$/.exec(req.headers.get("range") ?? "");
      if (range && !options.ignoreRange) {
        const start = Number(range[1]);
        return new Response(bytes.subarray(start) as Uint8Array<ArrayBuffer>, {
          status: 206,
          headers: {
            ...headers,
            "Content-Range": `bytes ${start}-${bytes.byteLength - 1}/${bytes.byteLength}`,
          },
        });
      }
      if (options.interruptAfter !== undefined && !interrupted.has(desc.digest)) {
        interrupted.add(desc.digest);
        return new Response(truncated(bytes, options.interruptAfter), { headers });
      }
      return new Response(bytes as Uint8Array<ArrayBuffer>, { headers });
    },
  });
  return {
    host: `127.0.0.1:${server.port}`,
    url: `http://127.0.0.1:${server.port}`,
    requests,
    stop: () => server.stop(true),
  };
}
