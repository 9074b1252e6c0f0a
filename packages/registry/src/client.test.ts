/** Resolve, fetch and verification against a fake registry (Bun.serve) that misbehaves on
 *  request: corrupted blobs, cut streams, ignored Range, 503s, redirects, schema 1, mirrors. */

import { afterEach, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Kind } from "@bunkerd/plugin-api";
import { digestOf } from "./digest.ts";
import { createResolver, type ResolverOptions } from "./resolver.ts";
import { MediaType } from "./media-types.ts";
import { type FakeRegistry, type FakeRegistryOptions, startFakeRegistry } from "./testutil/fake-registry.ts";
import { blobOf, blobsOf, buildImage } from "./testutil/image.ts";
import { collect } from "./verify.ts";

const servers: FakeRegistry[] = [];
const dirs: string[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.stop();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const random = (n: number) => crypto.getRandomValues(new Uint8Array(n));
// A layer of random bytes does not compress: big enough for several chunks on the wire.
const image = buildImage({ files: [{ "a.bin": random(300_000) }, { "b.txt": "hello" }] });
const layer = image.layers[0]!;

function fake(options: FakeRegistryOptions = {}) {
  const s = startFakeRegistry({ blobs: blobsOf(image), tags: { v1: image.manifest.desc }, ...options });
  servers.push(s);
  return s;
}
const resolver = (options: ResolverOptions = {}) => createResolver({ retryDelayMs: 5, ...options });

async function caught(p: Promise<unknown> | (() => Promise<unknown>)) {
  try {
    await (typeof p === "function" ? p() : p);
  } catch (e) {
    return e as Error & { kind?: string };
  }
  throw new Error("expected an error");
}

describe("resolve", () => {
  test("by tag: one HEAD with containerd's Accept list, the digest from Docker-Content-Digest", async () => {
    const s = fake();
    const r = await resolver().resolve(`${s.host}/x/y:v1`);
    expect(r).toEqual({ name: `${s.host}/x/y:v1`, desc: image.manifest.desc });
    expect(s.requests).toHaveLength(1);
    expect(s.requests[0]).toMatchObject({ method: "HEAD", path: "/v2/x/y/manifests/v1" });
    expect(s.requests[0]!.headers.accept).toBe(
      "application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, *",
    );
  });

  test("by digest: the digest is the reference's, not the registry's", async () => {
    const s = fake();
    const r = await resolver().resolve(`${s.host}/x/y@${image.manifest.desc.digest}`);
    expect(r.desc).toEqual(image.manifest.desc);
    expect(s.requests[0]!.path).toBe(`/v2/x/y/manifests/${image.manifest.desc.digest}`);
  });

  test("tag and digest: the digest decides", async () => {
    const s = fake();
    const r = await resolver().resolve(`${s.host}/x/y:nope@${image.manifest.desc.digest}`);
    expect(r.desc.digest).toBe(image.manifest.desc.digest);
  });

  test("HEAD without a digest falls back to GET and hashes the body", async () => {
    const s = fake({ headWithoutDigest: true });
    const r = await resolver().resolve(`${s.host}/x/y:v1`);
    expect(r.desc).toEqual(image.manifest.desc);
    expect(s.requests.map((q) => q.method)).toEqual(["HEAD", "GET"]);
  });

  test("an unknown tag is NotFound", async () => {
    const s = fake();
    const e = await caught(resolver().resolve(`${s.host}/x/y:missing`));
    expect(e.kind).toBe(Kind.NotFound);
    expect(e.message).toContain(`${s.host}/x/y:missing`);
  });

  test("a reference without an object, or with an empty digest, is refused", async () => {
    // Docker's grammar refuses the uppercase; containerd's generic form finds no object.
    const e = await caught(resolver().resolve("127.0.0.1:1/X/y"));
    expect(e.kind).toBe(Kind.InvalidArgument);
    expect(e.message).toContain("object required");
    expect((await caught(resolver().resolve("127.0.0.1:1/X/y@"))).kind).toBe(Kind.InvalidArgument);
  });

  test.each([
    ["application/vnd.docker.distribution.manifest.v1+prettyjws"],
    ["application/vnd.docker.distribution.manifest.v1+json"],
    ["text/plain"],
  ])("schema 1 served as %s is refused", async (contentType) => {
    const schema1 = blobOf(
      contentType,
      new TextEncoder().encode(JSON.stringify({ schemaVersion: 1, fsLayers: [] })),
    );
    const s = fake({ blobs: [schema1], tags: { old: schema1.desc } });
    const e = await caught(resolver().resolve(`${s.host}/x/y:old`));
    expect(e.kind).toBe(Kind.NotImplemented);
    expect(e.message).toContain("schema 1 manifests are not supported");
  });

  test("503s are retried with backoff, then the answer is used", async () => {
    const s = fake({ failures: 2 });
    const r = await resolver().resolve(`${s.host}/x/y:v1`);
    expect(r.desc.digest).toBe(image.manifest.desc.digest);
    expect(s.requests).toHaveLength(3);
  });

  test("retries are bounded: a registry that keeps failing is Unavailable", async () => {
    const s = fake({ failures: 100 });
    const e = await caught(resolver({ retries: 2 }).resolve(`${s.host}/x/y:v1`));
    expect(e.kind).toBe(Kind.Unavailable);
    expect(s.requests).toHaveLength(3);
  });

  test("a refused connection is Unavailable after the retries", async () => {
    const s = fake();
    const host = s.host;
    s.stop();
    const e = await caught(resolver({ retries: 1 }).resolve(`${host}/x/y:v1`));
    expect(e.kind).toBe(Kind.Unavailable);
  });
});

describe("fetch", () => {
  test("manifests come from manifests/, blobs from blobs/, verified", async () => {
    const s = fake();
    const f = resolver().fetcher(`${s.host}/x/y:v1`);
    expect(await f.fetchBytes(image.manifest.desc)).toEqual(image.manifest.bytes);
    expect(await f.fetchBytes(layer.desc)).toEqual(layer.bytes);
    expect(s.requests.map((r) => r.path)).toEqual([
      `/v2/x/y/manifests/${image.manifest.desc.digest}`,
      `/v2/x/y/blobs/${layer.desc.digest}`,
    ]);
    expect(s.requests[0]!.headers.accept).toBe(`${MediaType.OciManifest}, *`);
  });

  test("a corrupted blob fails at the end, naming both digests", async () => {
    const bad = new Uint8Array(layer.bytes);
    bad[1000] = (bad[1000]! + 1) % 256;
    const s = fake({ corrupt: { [layer.desc.digest]: bad } });
    const chunks: Uint8Array[] = [];
    const e = await caught(async () => {
      for await (const c of resolver().fetcher(`${s.host}/x/y`).fetch(layer.desc)) chunks.push(c);
    });
    expect(e.kind).toBe(Kind.FailedPrecondition);
    expect(e.message).toContain(layer.desc.digest);
    expect(e.message).toContain(digestOf(bad));
    // Every byte was streamed before the verdict.
    expect(chunks.reduce((n, c) => n + c.byteLength, 0)).toBe(layer.desc.size);
  });

  test("an oversize blob stops as soon as it passes the descriptor's size", async () => {
    const s = fake({ corrupt: { [layer.desc.digest]: new Uint8Array(layer.bytes.byteLength * 4) } });
    let received = 0;
    const e = await caught(async () => {
      for await (const c of resolver().fetcher(`${s.host}/x/y`).fetch(layer.desc)) received += c.byteLength;
    });
    expect(e.message).toContain(`more than the expected ${layer.desc.size} bytes`);
    expect(received).toBeLessThanOrEqual(layer.desc.size);
  });

  test("a stream cut short is resumed with Range from where it stopped", async () => {
    const s = fake({ interruptAfter: 100_000 });
    const bytes = await resolver().fetcher(`${s.host}/x/y`).fetchBytes(layer.desc);
    expect(bytes).toEqual(layer.bytes);
    const gets = s.requests.filter((r) => r.method === "GET");
    expect(gets).toHaveLength(2);
    expect(gets[0]!.headers.range).toBeUndefined();
    expect(gets[1]!.headers.range).toBe("bytes=100000-");
  });

  test("a server that ignores Range has the bytes before the offset skipped", async () => {
    const s = fake({ interruptAfter: 70_000, ignoreRange: true });
    expect(await resolver().fetcher(`${s.host}/x/y`).fetchBytes(layer.desc)).toEqual(layer.bytes);
  });

  test("resume from an offset with the bytes already held: the whole blob is verified", async () => {
    const s = fake();
    const f = resolver().fetcher(`${s.host}/x/y`);
    // A first attempt that the caller abandons after some chunks (an interrupted ingest).
    const held: Uint8Array[] = [];
    let n = 0;
    for await (const c of f.fetch(layer.desc)) {
      held.push(c);
      n += c.byteLength;
      if (n >= 50_000) break;
    }
    const prefix = Buffer.concat(held).subarray(0, 50_000);
    const rest = await collect(
      f.fetch(layer.desc, { offset: prefix.byteLength, prefix }),
      layer.desc.size - prefix.byteLength,
    );
    expect(Buffer.concat([prefix, rest])).toEqual(Buffer.from(layer.bytes));
    expect(s.requests.at(-1)!.headers.range).toBe(`bytes=${prefix.byteLength}-`);

    // A prefix that is not the blob's start makes the digest fail.
    const wrong = new Uint8Array(prefix.byteLength);
    const e = await caught(
      collect(f.fetch(layer.desc, { offset: wrong.byteLength, prefix: wrong }), layer.desc.size),
    );
    expect(e.message).toContain("digest mismatch");
  });

  test("an offset without the prefix is refused unless digest verification is waived", async () => {
    const s = fake();
    const f = resolver().fetcher(`${s.host}/x/y`);
    const e = await caught(collect(f.fetch(layer.desc, { offset: 10 }), layer.desc.size));
    expect(e.kind).toBe(Kind.InvalidArgument);
    const rest = await collect(
      f.fetch(layer.desc, { offset: 10, verifyDigest: false }),
      layer.desc.size - 10,
    );
    expect(rest).toEqual(layer.bytes.subarray(10));
  });

  test("a missing blob is NotFound", async () => {
    const s = fake();
    const missing = blobOf(MediaType.OciLayerGzip, random(10));
    const e = await caught(resolver().fetcher(`${s.host}/x/y`).fetchBytes(missing.desc));
    expect(e.kind).toBe(Kind.NotFound);
  });

  test("a blob redirect to another host does not carry the Authorization header", async () => {
    const storage = fake();
    const user = "alice";
    const password = "s3cret";
    const s = fake({
      redirectBlobsTo: storage.url,
      intercept: (req) =>
        req.headers.get("authorization") === `Basic ${btoa(`${user}:${password}`)}`
          ? undefined
          : new Response(null, { status: 401, headers: { "WWW-Authenticate": 'Basic realm="fake"' } }),
    });
    const r = resolver({
      credentials: (host) => (host === s.host ? { username: user, secret: password } : undefined),
    });
    expect(await r.fetcher(`${s.host}/x/y`).fetchBytes(layer.desc)).toEqual(layer.bytes);
    const atRegistry = s.requests.filter((q) => q.path.includes("/blobs/"));
    expect(atRegistry.map((q) => Boolean(q.headers.authorization))).toEqual([false, true]);
    expect(storage.requests).toHaveLength(1);
    expect(storage.requests[0]!.headers.authorization).toBeUndefined();
  });
});

describe("hosts.toml routing", () => {
  test("a pull-only mirror is tried first with ?ns=, then the server on 404", async () => {
    const upstream = fake();
    const mirror = fake({ blobs: [], tags: {} });
    const dir = mkdtempSync(join(tmpdir(), "registry-mirror-"));
    dirs.push(dir);
    mkdirSync(join(dir, "registry.test"));
    writeFileSync(
      join(dir, "registry.test", "hosts.toml"),
      `server = "http://${upstream.host}"\n\n[host."http://${mirror.host}"]\n  capabilities = ["pull", "resolve"]\n`,
    );
    const r = resolver({ hostsDir: dir });
    const { name, desc } = await r.resolve("registry.test/x/y:v1");
    expect(name).toBe("registry.test/x/y:v1");
    expect(desc).toEqual(image.manifest.desc);
    expect(mirror.requests[0]!.path).toBe("/v2/x/y/manifests/v1?ns=registry.test");
    expect(upstream.requests[0]!.path).toBe("/v2/x/y/manifests/v1");
    // Fetches go the same way.
    expect(await r.fetcher(name).fetchBytes(image.config.desc)).toEqual(image.config.bytes);
    expect(mirror.requests.at(-1)!.path).toBe(`/v2/x/y/blobs/${image.config.desc.digest}?ns=registry.test`);
  });

  test("headers from hosts.toml and from the resolver are sent", async () => {
    const s = fake();
    const dir = mkdtempSync(join(tmpdir(), "registry-headers-"));
    dirs.push(dir);
    mkdirSync(join(dir, s.host));
    writeFileSync(join(dir, s.host, "hosts.toml"), `[header]\n  x-from-hosts = "h"\n`);
    await resolver({ hostsDir: dir, headers: { "x-global": "g" } }).resolve(`${s.host}/x/y:v1`);
    expect(s.requests[0]!.headers["x-from-hosts"]).toBe("h");
    expect(s.requests[0]!.headers["x-global"]).toBe("g");
  });
});
