/** Against the real distribution registry (Debian's docker-registry 2.8) on 127.0.0.1: push
 *  then pull back identical bytes, chunked uploads, cross-repository mounts, a multi-platform
 *  index copied in by skopeo, Range resume, Bearer tokens from a token service run by the test,
 *  htpasswd Basic auth, and TLS with a private CA, skip_verify and client certificates through
 *  hosts.toml. Skipped without the binary or root. */

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Kind } from "@bunkerd/plugin-api";
import { digestOf } from "./digest.ts";
import { type ImageIndex, parseManifest, selectManifests } from "./manifest.ts";
import { MediaType } from "./media-types.ts";
import { only, ordered } from "./platforms/index.ts";
import { DISTRIBUTION_SOURCE_LABEL } from "./push.ts";
import { createResolver, type ResolverOptions } from "./resolver.ts";
import { makeCerts, type TestCerts } from "./testutil/certs.ts";
import { blobOf, blobsOf, buildImage, buildIndex, skopeoCopy, writeOciLayout } from "./testutil/image.ts";
import { canRunRegistry, startRegistry, type TestRegistry } from "./testutil/registry.ts";
import { chunked, pullImage, pushImage } from "./testutil/roundtrip.ts";
import { startTokenServer, type TokenServer, type TokenServerOptions } from "./testutil/token-server.ts";
import { collect } from "./verify.ts";

const enabled = canRunRegistry();
const random = (n: number) => crypto.getRandomValues(new Uint8Array(n));
const resolver = (options: ResolverOptions = {}) => createResolver({ retryDelayMs: 10, ...options });

async function caught(p: Promise<unknown>) {
  try {
    await p;
  } catch (e) {
    return e as Error & { kind?: string };
  }
  throw new Error("expected an error");
}

const tmp: string[] = [];
const tempDir = (prefix: string) => {
  const d = mkdtempSync(join(tmpdir(), prefix));
  tmp.push(d);
  return d;
};
afterAll(() => {
  for (const d of tmp.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A config_path dir with one hosts.toml for `namespace`. */
function hostsDir(namespace: string, toml: string): string {
  const dir = tempDir("bunkerd-hosts-");
  mkdirSync(join(dir, namespace));
  writeFileSync(join(dir, namespace, "hosts.toml"), toml);
  return dir;
}

const app = buildImage({
  files: [{ "etc/hostname": "bunkerd\n", "etc/motd": "hello\n" }, { "opt/data.bin": random(700_000) }],
});

describe.skipIf(!enabled)("plain http registry", () => {
  let reg: TestRegistry;
  beforeAll(async () => {
    reg = await startRegistry();
  });
  afterAll(() => reg?.stop());

  test("push blobs and a manifest, then pull back identical bytes (by tag and by digest)", async () => {
    const r = resolver();
    // 127.0.0.1 without hosts.toml is plain http, as containerd ≥ 1.6.9 has it.
    expect(r.hosts(reg.host)[0]).toMatchObject({ scheme: "http", host: reg.host });
    expect(await pushImage(r, `${reg.host}/test/app:v1`, app)).toEqual(["pushed", "pushed", "pushed"]);
    // A second push finds everything in place.
    expect(await pushImage(r, `${reg.host}/test/app:v1`, app)).toEqual(["exists", "exists", "exists"]);

    const fresh = resolver();
    const { desc } = await fresh.resolve(`${reg.host}/test/app:v1`);
    expect(desc).toEqual(app.manifest.desc);
    const pulled = await pullImage(fresh, `${reg.host}/test/app@${app.manifest.desc.digest}`);
    for (const blob of blobsOf(app)) expect(pulled.blobs.get(blob.desc.digest)).toEqual(blob.bytes);
  });

  test("a large blob goes up in PATCH chunks and comes back identical", async () => {
    const big = buildImage({ files: [{ "big.bin": random(1_000_000) }] });
    const r = resolver();
    const statuses = await pushImage(r, `${reg.host}/test/chunked:v1`, big, { chunkSize: 256 * 1024 });
    expect(statuses).toEqual(["pushed", "pushed"]);
    const pulled = await pullImage(resolver(), `${reg.host}/test/chunked:v1`);
    expect(pulled.blobs.get(big.layers[0]!.desc.digest)).toEqual(big.layers[0]!.bytes);
  });

  test("a blob from another repository is mounted, not uploaded", async () => {
    const layer = blobOf(MediaType.OciLayerGzip, Bun.gzipSync(random(50_000)));
    const r = resolver();
    expect((await r.pusher(`${reg.host}/team/base:v1`).push(layer.desc, chunked(layer.bytes))).status).toBe(
      "pushed",
    );
    const labelled = {
      ...layer.desc,
      annotations: { [`${DISTRIBUTION_SOURCE_LABEL}.127.0.0.1`]: "team/base,other/repo" },
    };
    let read = false;
    const source = async function* () {
      read = true;
      yield layer.bytes;
    };
    const result = await r.pusher(`${reg.host}/team/app:v1`).push(labelled, source);
    expect(result.status).toBe("mounted");
    expect(read).toBe(false);
    expect(await r.pusher(`${reg.host}/team/app:v1`).exists(layer.desc)).toBe(true);
  });

  test("bytes that do not match the descriptor are refused and nothing is committed", async () => {
    const claimed = blobOf(MediaType.OciLayerGzip, random(4096));
    const r = resolver();
    const pusher = r.pusher(`${reg.host}/test/bad:v1`);
    const e = await caught(pusher.push(claimed.desc, chunked(random(4096))));
    expect(e.kind).toBe(Kind.FailedPrecondition);
    expect(e.message).toContain(claimed.desc.digest);
    expect(await pusher.exists(claimed.desc)).toBe(false);
    // The same with chunks already sent: the upload session is cancelled.
    const big = blobOf(MediaType.OciLayerGzip, random(300_000));
    const e2 = await caught(pusher.push(big.desc, chunked(random(300_000)), { chunkSize: 100_000 }));
    expect(e2.kind).toBe(Kind.FailedPrecondition);
    expect(await pusher.exists(big.desc)).toBe(false);
  });

  test("a manifest whose bytes do not match its descriptor is not sent", async () => {
    const e = await caught(
      resolver().pusher(`${reg.host}/test/app:v2`).pushManifest("v2", app.manifest.desc, new Uint8Array(10)),
    );
    expect(e.kind).toBe(Kind.FailedPrecondition);
  });

  test("resume a blob with Range from an offset, the registry answering 206", async () => {
    const r = resolver();
    const layer = app.layers[1]!;
    const fetcher = r.fetcher(`${reg.host}/test/app`);
    const prefix = layer.bytes.subarray(0, 123_457);
    const rest = await collect(
      fetcher.fetch(layer.desc, { offset: prefix.byteLength, prefix }),
      layer.desc.size - prefix.byteLength,
    );
    expect(Buffer.concat([prefix, rest])).toEqual(Buffer.from(layer.bytes));
  });

  test("a multi-platform index (copied in by skopeo): select amd64 and arm64", async () => {
    const amd64 = buildImage({
      files: [{ "arch.txt": "amd64\n" }],
      platform: { os: "linux", architecture: "amd64" },
    });
    const arm64 = buildImage({
      files: [{ "arch.txt": "arm64\n" }],
      platform: { os: "linux", architecture: "arm64", variant: "v8" },
    });
    const index = buildIndex([amd64, arm64]);
    const layout = tempDir("bunkerd-oci-");
    writeOciLayout(layout, [...blobsOf(amd64), ...blobsOf(arm64), index], index.desc, "multi");
    skopeoCopy(layout, "multi", `${reg.host}/test/multi:v1`);

    const r = resolver();
    const { name, desc } = await r.resolve(`${reg.host}/test/multi:v1`);
    expect(desc).toEqual(index.desc);
    const doc = parseManifest(await r.fetcher(name).fetchBytes(desc), desc.mediaType) as ImageIndex;
    expect(doc.kind).toBe("index");
    const [forAmd64] = selectManifests(doc, ordered({ os: "linux", architecture: "amd64" }), 1);
    expect(forAmd64!.digest).toBe(amd64.manifest.desc.digest);
    const pick = (i: ImageIndex) => selectManifests(i, only({ os: "linux", architecture: "arm64" }), 1)[0]!;
    const pulled = await pullImage(r, `${reg.host}/test/multi:v1`, pick);
    expect(pulled.desc.digest).toBe(arm64.manifest.desc.digest);
    const config = JSON.parse(new TextDecoder().decode(pulled.blobs.get(pulled.manifest.config.digest)!));
    expect(config.architecture).toBe("arm64");
  });

  test("a namespace routed to a plain-http server by hosts.toml", async () => {
    const dir = hostsDir("registry.test:5000", `server = "http://${reg.host}"\n`);
    const r = resolver({ hostsDir: dir });
    expect(r.hosts("registry.test:5000")).toEqual([
      { scheme: "http", host: reg.host, path: "/v2", capabilities: ["pull", "resolve", "push"] },
    ]);
    const { desc } = await r.resolve("registry.test:5000/test/app:v1");
    expect(desc.digest).toBe(app.manifest.desc.digest);
  });
});

describe.skipIf(!enabled)("bearer token auth", () => {
  let certs: TestCerts;
  let tokens: TokenServer;
  let reg: TestRegistry;
  const tokenOptions = {} as TokenServerOptions;
  const alice = { username: "alice", secret: "wonderland" };

  beforeAll(async () => {
    certs = makeCerts(tempDir("bunkerd-certs-"));
    Object.assign(tokenOptions, {
      certFile: certs.tokenCert,
      keyFile: certs.tokenKey,
      issuer: "bunkerd-test-issuer",
      service: "bunkerd-test-registry",
      users: { alice: alice.secret },
      anonymous: ["pull"],
    } satisfies TokenServerOptions);
    tokens = startTokenServer(tokenOptions);
    reg = await startRegistry({
      auth: {
        token: {
          realm: tokens.realm,
          service: "bunkerd-test-registry",
          issuer: "bunkerd-test-issuer",
          rootCertBundle: certs.tokenCert,
        },
      },
    });
  });
  afterAll(async () => {
    await reg?.stop();
    tokens?.stop();
  });

  test("with credentials a push gets its token by the OAuth2 POST (password grant)", async () => {
    tokens.requests.length = 0;
    const r = resolver({ credentials: (host) => (host === reg.host ? alice : undefined) });
    expect(await pushImage(r, `${reg.host}/private/app:v1`, app)).toEqual(["pushed", "pushed", "pushed"]);
    expect(tokens.requests[0]).toMatchObject({
      method: "POST",
      grantType: "password",
      user: "alice",
      service: "bunkerd-test-registry",
    });
    expect(tokens.requests.every((q) => q.method === "POST")).toBe(true);
    expect(tokens.requests.some((q) => q.scopes.includes("repository:private/app:pull,push"))).toBe(true);
  });

  test("an anonymous pull gets one token (GET) and reuses it for every request of the scope", async () => {
    tokens.requests.length = 0;
    const r = resolver();
    const pulled = await pullImage(r, `${reg.host}/private/app:v1`);
    for (const blob of blobsOf(app)) expect(pulled.blobs.get(blob.desc.digest)).toEqual(blob.bytes);
    expect(tokens.requests).toEqual([
      {
        method: "GET",
        user: undefined,
        service: "bunkerd-test-registry",
        scopes: ["repository:private/app:pull"],
      },
    ]);
    expect(r.tokenFetches).toHaveLength(1);
    // The same scope again (by digest now): still the cached token.
    await r.resolve(`${reg.host}/private/app@${app.manifest.desc.digest}`);
    expect(tokens.requests).toHaveLength(1);
    // Another repository is another scope set: one more token. Like containerd, the scope of
    // the challenge that set up the host's handler rides along.
    expect((await caught(r.resolve(`${reg.host}/private/nothing:v1`))).kind).toBe(Kind.NotFound);
    expect(tokens.requests).toHaveLength(2);
    expect(tokens.requests[1]!.scopes).toEqual([
      "repository:private/app:pull",
      "repository:private/nothing:pull",
    ]);
  });

  test("a push without credentials is refused (an anonymous token has no push)", async () => {
    const e = await caught(pushImage(resolver(), `${reg.host}/private/other:v1`, app));
    expect(e.kind).toBe(Kind.Unauthenticated);
    expect(e.message).toContain("insufficient_scope");
  });

  test("wrong credentials fail to get a token", async () => {
    const r = resolver({ credentials: () => ({ username: "alice", secret: "nope" }) });
    const e = await caught(r.resolve(`${reg.host}/private/app:v1`));
    expect(e.kind).toBe(Kind.Unauthenticated);
    expect(e.message).toContain("pull access denied");
  });

  test("a token service without POST: the GET with Basic credentials is used", async () => {
    tokenOptions.post = false;
    tokens.requests.length = 0;
    try {
      const r = resolver({ credentials: () => alice });
      await pushImage(r, `${reg.host}/private/get:v1`, app);
      const methods = tokens.requests.map((q) => q.method);
      expect(methods[0]).toBe("POST");
      expect(methods[1]).toBe("GET");
      expect(tokens.requests[1]!.user).toBe("alice");
    } finally {
      tokenOptions.post = true;
    }
  });
});

describe.skipIf(!enabled)("basic auth (htpasswd)", () => {
  let reg: TestRegistry;
  beforeAll(async () => {
    reg = await startRegistry({ auth: { htpasswd: { users: { bob: "builder" } } } });
  });
  afterAll(() => reg?.stop());

  test("without credentials: pull access denied", async () => {
    const e = await caught(resolver().resolve(`${reg.host}/basic/app:v1`));
    expect(e.kind).toBe(Kind.Unauthenticated);
    expect(e.message).toContain("pull access denied");
  });

  test("with credentials: push and pull", async () => {
    const r = resolver({
      credentials: (host) => (host === reg.host ? { username: "bob", secret: "builder" } : undefined),
    });
    await pushImage(r, `${reg.host}/basic/app:v1`, app);
    const pulled = await pullImage(r, `${reg.host}/basic/app:v1`);
    expect(pulled.desc).toEqual(app.manifest.desc);
  });

  test("wrong credentials are refused", async () => {
    const r = resolver({ credentials: () => ({ username: "bob", secret: "wrong" }) });
    const e = await caught(r.resolve(`${reg.host}/basic/app:v1`));
    expect(e.kind).toBe(Kind.Unauthenticated);
  });
});

describe.skipIf(!enabled)("TLS", () => {
  let certs: TestCerts;
  let reg: TestRegistry;
  let mtls: TestRegistry;
  beforeAll(async () => {
    certs = makeCerts(tempDir("bunkerd-certs-"));
    [reg, mtls] = await Promise.all([
      startRegistry({ tls: { cert: certs.serverCert, key: certs.serverKey } }),
      startRegistry({ tls: { cert: certs.serverCert, key: certs.serverKey, clientCAs: [certs.caCert] } }),
    ]);
  });
  afterAll(async () => {
    await reg?.stop();
    await mtls?.stop();
  });

  test("a private CA from hosts.toml (ca = path): push and pull", async () => {
    const dir = hostsDir(
      reg.host,
      `server = "https://${reg.host}"\n\n[host."https://${reg.host}"]\n  ca = "${certs.caCert}"\n`,
    );
    const r = resolver({ hostsDir: dir });
    expect(r.hosts(reg.host)[0]).toMatchObject({ scheme: "https", ca: [certs.caCert] });
    await pushImage(r, `${reg.host}/tls/app:v1`, app);
    const pulled = await pullImage(r, `${reg.host}/tls/app:v1`);
    for (const blob of blobsOf(app)) expect(pulled.blobs.get(blob.desc.digest)).toEqual(blob.bytes);
  });

  test("without the CA the certificate is refused", async () => {
    const dir = hostsDir(reg.host, `server = "https://${reg.host}"\n`);
    const e = await caught(resolver({ hostsDir: dir, retries: 0 }).resolve(`${reg.host}/tls/app:v1`));
    expect(e.kind).toBe(Kind.Unavailable);
    expect(e.message.toLowerCase()).toMatch(/certificate|self.signed|verify|issuer/);
  });

  test("skip_verify = true in hosts.toml, and the resolver's skipVerify", async () => {
    const dir = hostsDir(reg.host, `server = "https://${reg.host}"\nskip_verify = true\n`);
    expect((await resolver({ hostsDir: dir }).resolve(`${reg.host}/tls/app:v1`)).desc).toEqual(
      app.manifest.desc,
    );
    const plain = hostsDir(reg.host, `server = "https://${reg.host}"\n`);
    const r = resolver({ hostsDir: plain, skipVerify: true });
    expect((await r.resolve(`${reg.host}/tls/app:v1`)).desc).toEqual(app.manifest.desc);
  });

  test("client certificates from hosts.toml (client = [[cert, key]]) for a registry that wants them", async () => {
    const withClient = hostsDir(
      mtls.host,
      `server = "https://${mtls.host}"\nca = "${certs.caCert}"\nclient = [["${certs.clientCert}", "${certs.clientKey}"]]\n`,
    );
    const r = resolver({ hostsDir: withClient });
    await pushImage(r, `${mtls.host}/mtls/app:v1`, app);
    expect((await r.resolve(`${mtls.host}/mtls/app:v1`)).desc).toEqual(app.manifest.desc);

    const without = hostsDir(mtls.host, `server = "https://${mtls.host}"\nca = "${certs.caCert}"\n`);
    const e = await caught(resolver({ hostsDir: without, retries: 0 }).resolve(`${mtls.host}/mtls/app:v1`));
    expect(e.kind).toBe(Kind.Unavailable);
  });

  test("digest check of what the TLS registry stored", async () => {
    const r = resolver({
      hostsDir: hostsDir(reg.host, `server = "https://${reg.host}"\nca = "${certs.caCert}"\n`),
    });
    const bytes = await r.fetcher(`${reg.host}/tls/app`).fetchBytes(app.config.desc);
    expect(digestOf(bytes)).toBe(app.config.desc.digest);
  });
});
