/** Daemon-side pull through containerd 1.7's Transfer service (what bctr calls): a Connect
 *  client opens a progress stream (Streaming.Stream), then asks Transfer to move an OCIRegistry
 *  source into the ImageStore; bunkerd resolves, fetches into content, unpacks into overlayfs and
 *  records the image. Checked against a Go ctr client-side pull into real containerd, entry by
 *  entry; plus progress order, one download per blob for concurrent pulls, resume after a crash,
 *  a diffID mismatch, and platform selection in a multi-arch index.
 *
 *  The transfer plugins load from a plugin_dir module until builtins.ts lists them. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createDaemonTransport } from "@bunkerd/client";
import { Content } from "@bunkerd/proto/containerd/services/content/v1/content_pb.ts";
import type { Progress } from "@bunkerd/proto/containerd/types/transfer/progress_pb.ts";
import { MediaType } from "@bunkerd/registry";
import { createClient, type Transport } from "@connectrpc/connect";
import { builtins } from "../../apps/daemon/src/builtins.ts";
import {
  blobOf,
  blobsOf,
  buildImage,
  buildIndex,
  pushBlobs,
  skopeoCopy,
  type TestImage,
} from "../../packages/registry/src/testutil/image.ts";
import {
  canRunRegistry,
  startRegistry,
  type TestRegistry,
} from "../../packages/registry/src/testutil/registry.ts";
import { type DaemonHandle, hasBinary, REPO, startDaemon } from "../harness/daemon.ts";
import { buildTestImage, describeTree } from "../harness/testimage.ts";
import { credentialStream, imageStore, registry as registrySource, runTransfer } from "./transfer-client.ts";

const ready = canRunRegistry() && hasBinary("ctr") && hasBinary("containerd") && hasBinary("skopeo");
const NS = "default";

// ── The plugins, from a plugin_dir until builtins.ts has them ─────────────────────────────

const builtin = Object.values(builtins).some((m) =>
  [m.default ?? [], m.plugins ?? []].flat().some((r) => r.type === "io.containerd.transfer.v1"),
);

function pluginDir(dir: string): string | undefined {
  if (builtin) return undefined;
  const path = join(dir, "plugins");
  mkdirSync(path, { recursive: true });
  const src = join(REPO, "apps/daemon/src");
  writeFileSync(
    join(path, "transfer.ts"),
    [
      `import transfer from ${JSON.stringify(join(src, "plugins/transfer/plugin.ts"))};`,
      `import streaming from ${JSON.stringify(join(src, "services/streaming/plugin.ts"))};`,
      `import grpc from ${JSON.stringify(join(src, "services/transfer/plugin.ts"))};`,
      "export default [...transfer, ...streaming, grpc];",
    ].join("\n"),
  );
  return path;
}

async function startBunkerd(): Promise<DaemonHandle> {
  const dir = mkdtempSync("/tmp/bk-plugins-");
  const plugins = pluginDir(dir);
  const d = await startDaemon("bunkerd", {
    config: [
      "version = 2",
      'root = "$DIR/root"',
      'state = "$DIR/state"',
      ...(plugins ? [`plugin_dir = ${JSON.stringify(plugins)}`] : []),
      "[grpc]",
      '  address = "$DIR/d.sock"',
      "[ttrpc]",
      '  address = "$DIR/d.sock.ttrpc"',
    ].join("\n"),
  });
  const stop = d.stop.bind(d);
  d.stop = async (signal) => {
    const code = await stop(signal);
    rmSync(dir, { recursive: true, force: true });
    return code;
  };
  return d;
}

// ── A client: progress stream + Transfer (./transfer-client.ts) ───────────────────────────

interface PullOptions {
  name?: string;
  platforms?: { os: string; architecture: string; variant?: string }[];
  unpack?: { os: string; architecture: string; variant?: string }[];
  snapshotter?: string;
  progress?: boolean;
  /** Answered on an auth stream, as ctr's credential helper answers. */
  credentials?: { username: string; secret: string };
  signal?: AbortSignal;
}

interface PullResult {
  events: Progress[];
  /** Hosts credentials were asked for. */
  asked: string[];
}

/** An OCIRegistry source (plain http) into the ImageStore, unpacked for `unpack`'s platforms. */
async function transferPull(transport: Transport, ref: string, o: PullOptions = {}): Promise<PullResult> {
  const creds = o.credentials ? await credentialStream(transport, o.credentials, o.signal) : undefined;
  const platforms = o.platforms ?? [{ os: "linux", architecture: "amd64" }];
  const unpack = o.unpack ?? platforms;
  try {
    const { events } = await runTransfer(
      transport,
      registrySource(ref, { authStream: creds?.id }),
      imageStore({
        name: o.name ?? ref,
        platforms,
        unpacks: unpack.map((platform) => ({ platform, snapshotter: o.snapshotter ?? "" })),
      }),
      { signal: o.signal, progress: o.progress },
    );
    return { events, asked: creds?.asked ?? [] };
  } finally {
    await creds?.done();
  }
}

/** Pushes `blobs` with `root` tagged to the registry; answers the reference. */
function push(
  registry: TestRegistry,
  repo: string,
  tag: string,
  blobs: ReturnType<typeof blobsOf>,
  root: TestImage["manifest"],
) {
  const ref = `${registry.host}/${repo}:${tag}`;
  pushBlobs(ref, blobs, root.desc);
  return ref;
}

async function mountedTree(d: DaemonHandle, ref: string): Promise<Record<string, string>> {
  const target = mkdtempSync("/tmp/transfer-mnt-");
  try {
    const m = await d.ctr(["images", "mount", ref, target]);
    expect(m.stderr).toBe("");
    expect(m.code).toBe(0);
    return describeTree(target);
  } finally {
    await d.ctr(["images", "unmount", "--rm", target]);
    rmSync(target, { recursive: true, force: true });
  }
}

/** `ctr content ls` as "digest labels" lines, labels sorted. */
async function contentLabels(d: DaemonHandle): Promise<string[]> {
  const out = (await d.ctr(["content", "ls"])).stdout.trim().split("\n").slice(1);
  return out
    .map((l) => {
      const cols = l.split(/\s+/);
      return `${cols[0]} ${(cols.at(-1) ?? "").split(",").sort().join(",")}`;
    })
    .sort();
}

const snapshotNames = async (d: DaemonHandle) =>
  (await d.ctr(["snapshots", "ls"])).stdout
    .trim()
    .split("\n")
    .slice(1)
    .map((l) => l.split(/\s+/)[0]!);

// ── A registry front that records requests, and can hold a blob's body mid-way ───────────

interface Front {
  host: string;
  requests: { method: string; path: string; range: string }[];
  /** Blob GETs by digest. */
  blobGets(): Map<string, number>;
  /** Bodies of this digest stop after `bytes` until released. */
  hold(digest: string, bytes: number): void;
  release(): void;
  stop(): void;
}

function startFront(upstream: string): Front {
  const requests: Front["requests"] = [];
  let held: { digest: string; bytes: number } | undefined;
  let releaseHeld: () => void = () => {};
  let released = Promise.resolve();
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    idleTimeout: 0,
    async fetch(req) {
      const url = new URL(req.url);
      requests.push({ method: req.method, path: url.pathname, range: req.headers.get("range") ?? "" });
      const headers = new Headers(req.headers);
      headers.delete("host");
      const r = await fetch(`${upstream}${url.pathname}${url.search}`, {
        method: req.method,
        headers,
        body: req.body,
        redirect: "manual",
        decompress: false,
      } as BunFetchRequestInit);
      const out = new Headers(r.headers);
      const h = held;
      if (!h || req.method !== "GET" || !url.pathname.endsWith(`/blobs/${h.digest}`) || !r.body) {
        return new Response(r.body, { status: r.status, headers: out });
      }
      // Pass `bytes` through, then hold the rest until released.
      const gate = released;
      const reader = r.body.getReader();
      let sent = 0;
      const body = new ReadableStream<Uint8Array>({
        async pull(c) {
          if (sent >= h.bytes) await gate;
          const { done, value } = await reader.read();
          if (done) return c.close();
          let chunk = value;
          if (sent < h.bytes && sent + chunk.length > h.bytes) {
            c.enqueue(chunk.subarray(0, h.bytes - sent));
            chunk = chunk.subarray(h.bytes - sent);
            sent = h.bytes;
            await gate;
          }
          sent += chunk.length;
          c.enqueue(chunk);
        },
        cancel: () => reader.cancel(),
      });
      return new Response(body, { status: r.status, headers: out });
    },
  });
  return {
    host: `127.0.0.1:${server.port}`,
    requests,
    blobGets() {
      const m = new Map<string, number>();
      for (const r of requests) {
        const hit = /\/blobs\/(sha256:[0-9a-f]{64})$/.exec(r.path);
        if (r.method === "GET" && hit) m.set(hit[1]!, (m.get(hit[1]!) ?? 0) + 1);
      }
      return m;
    },
    hold(digest, bytes) {
      held = { digest, bytes };
      released = new Promise<void>((r) => {
        releaseHeld = r;
      });
    },
    release() {
      held = undefined;
      releaseHeld();
    },
    stop: () => server.stop(true),
  };
}

/** A random image (so nothing of it is stored yet), pushed to the registry. */
function pushRandom(
  registry: TestRegistry,
  repo: string,
  sizes: number[],
): { ref: string; image: TestImage } {
  const image = buildImage({
    files: sizes.map((n, i) => ({ [`data/${i}`]: crypto.getRandomValues(new Uint8Array(n)) })),
  });
  return { ref: push(registry, repo, "v1", blobsOf(image), image.manifest), image };
}

describe.skipIf(!ready)("Transfer: registry → image store", () => {
  let registry: TestRegistry;
  let front: Front;
  let bunker: DaemonHandle;
  let image: ReturnType<typeof buildTestImage>;
  let ref: string;
  let transport: Transport;
  beforeAll(async () => {
    registry = await startRegistry();
    front = startFront(registry.url);
    image = buildTestImage();
    ref = `${registry.host}/test/hard:${image.tag}`;
    skopeoCopy(image.layout, image.tag, ref);
    bunker = await startBunkerd();
    transport = createDaemonTransport(bunker.address, { namespace: NS });
  }, 120_000);
  afterAll(async () => {
    await bunker?.stop();
    front?.stop();
    await registry?.stop();
    image?.cleanup();
  });

  test("pull unpacks the same tree, snapshots and labels as a Go ctr client-side pull into containerd", async () => {
    const { events } = await transferPull(transport, ref);
    expect(events.map((e) => e.event)).toContain("saved");
    const ls = await bunker.ctr(["images", "ls"]);
    expect(ls.stdout).toContain(ref);
    expect(ls.stdout).toContain(image.manifestDigest);

    const ctd = await startDaemon("containerd");
    try {
      const r = await ctd.ctr(["images", "pull", "--plain-http", ref], { timeoutMs: 120_000 });
      expect(r.code).toBe(0);
      // The committed snapshots are named by chain ID in both.
      expect((await snapshotNames(bunker)).sort()).toEqual((await snapshotNames(ctd)).sort());
      const ours = await mountedTree(bunker, ref);
      const theirs = await mountedTree(ctd, ref);
      expect(ours["opt/data/new"]).toBeDefined();
      expect(ours["usr/local/bin/ping"]).toContain("xattrs");
      const keys = [...new Set([...Object.keys(ours), ...Object.keys(theirs)])].sort();
      const diff = keys
        .filter((k) => ours[k] !== theirs[k])
        .map((k) => `${k}\n  bunkerd:    ${ours[k]}\n  containerd: ${theirs[k]}`);
      expect(diff).toEqual([]);
      // The content a pull leaves, and its labels (children, distribution source,
      // uncompressed, the snapshot reference), are containerd's.
      const labels = await contentLabels(bunker);
      expect(labels).toEqual(await contentLabels(ctd));
    } finally {
      await ctd.stop();
    }
    // The operation's lease is gone.
    expect((await bunker.ctr(["leases", "ls"])).stdout.trim().split("\n").slice(1)).toEqual([]);
  }, 240_000);

  test("progress arrives in order: resolving, pulling, each blob waiting → complete, each layer unpacking → unpacked, saved, completed", async () => {
    const { ref: r, image: img } = pushRandom(registry, "test/progress", [300_000, 2_000_000]);
    const { events } = await transferPull(transport, r);
    const what = `OCI Registry (${r})`;
    expect(events.slice(0, 3).map((e) => [e.event, e.name])).toEqual([
      [`Resolving from ${what}`, ""],
      [`Pulling from ${what}`, ""],
      ["fetching image content", r],
    ]);
    expect(events.slice(-2).map((e) => [e.event, e.name])).toEqual([
      ["saved", r],
      [`Completed pull from ${what}`, ""],
    ]);
    const isUnpack = (e: Progress) => e.event === "unpacking" || e.event === "unpacked";
    for (const b of blobsOf(img)) {
      const all = events.filter((e) => e.desc?.digest === b.desc.digest);
      const mine = all.filter((e) => !isUnpack(e));
      expect(mine.map((e) => e.event).filter((e) => e !== "downloading")).toEqual(["waiting", "complete"]);
      expect(mine[0]).toMatchObject({ total: BigInt(b.desc.size), progress: 0n });
      expect(mine.at(-1)).toMatchObject({ total: BigInt(b.desc.size), progress: BigInt(b.desc.size) });
      const offsets = mine.map((e) => Number(e.progress));
      expect(offsets).toEqual([...offsets].sort((a, c) => a - c));
      // A layer is then applied, reported under its download's name; manifest and config are not.
      const layer = img.layers.includes(b);
      expect(all.filter(isUnpack).map((e) => [e.event, e.name, e.progress, e.total])).toEqual(
        layer
          ? [
              ["unpacking", mine[0]!.name, 0n, BigInt(b.desc.size)],
              ["unpacked", mine[0]!.name, BigInt(b.desc.size), BigInt(b.desc.size)],
            ]
          : [],
      );
      if (layer) expect(all.slice(-2).map((e) => e.event)).toEqual(["unpacking", "unpacked"]);
    }
    // Layers are applied in order, all before the image is saved.
    const at = (event: string, i: number) =>
      events.findIndex((e) => e.event === event && e.desc?.digest === img.layers[i]!.desc.digest);
    expect(at("unpacked", 0)).toBeLessThan(at("unpacking", 1));
    expect(at("unpacked", 1)).toBeLessThan(events.findIndex((e) => e.event === "saved"));
    const manifestKey = `manifest-${img.manifest.desc.digest}`;
    const waiting = (d: string) => events.find((e) => e.event === "waiting" && e.desc?.digest === d);
    expect(waiting(img.manifest.desc.digest)?.parents).toEqual([r]);
    expect(waiting(img.layers[1]!.desc.digest)?.parents).toEqual([manifestKey]);
  }, 120_000);

  test("two concurrent pulls of one image download each blob once", async () => {
    const { ref: direct, image: img } = pushRandom(registry, "test/twice", [1_000_000, 3_000_000, 500_000]);
    const r = direct.replace(registry.host, front.host);
    // The big layer stops half-way until both pulls are surely under way.
    front.hold(img.layers[1]!.desc.digest, 1_000_000);
    const both = Promise.all([
      transferPull(transport, r, { name: `${r}-a` }),
      transferPull(transport, r, { name: `${r}-b` }),
    ]);
    await Bun.sleep(1500);
    front.release();
    const [a, b] = await both;
    expect(a.events.at(-1)?.event).toStartWith("Completed pull");
    expect(b.events.at(-1)?.event).toStartWith("Completed pull");
    const gets = front.blobGets();
    for (const blob of [img.config, ...img.layers]) expect(gets.get(blob.desc.digest)).toBe(1);
    const ls = (await bunker.ctr(["images", "ls", "-q"])).stdout;
    expect(ls).toContain(`${r}-a`);
    expect(ls).toContain(`${r}-b`);
  }, 120_000);

  test("a pull cut by a daemon crash resumes from the ingest offset", async () => {
    const { ref: direct, image: img } = pushRandom(registry, "test/resume", [12 * 1024 * 1024]);
    const r = direct.replace(registry.host, front.host);
    const layer = img.layers[0]!.desc;
    const cut = 4 * 1024 * 1024;
    front.hold(layer.digest, cut);
    const first = transferPull(transport, r, { progress: false }).catch((e) => e);
    const content = createClient(Content, transport);
    const deadline = Date.now() + 30_000;
    let offset = 0;
    while (offset < cut && Date.now() < deadline) {
      await Bun.sleep(100);
      const { statuses } = await content.listStatuses({});
      offset = Number(statuses.find((s) => s.ref === `layer-${layer.digest}`)?.offset ?? 0);
    }
    expect(offset).toBe(cut);
    await bunker.restart("SIGKILL");
    expect(await first).toBeInstanceOf(Error);
    front.release();
    transport = createDaemonTransport(bunker.address, { namespace: NS });
    await transferPull(transport, r, { progress: false });
    const gets = front.requests.filter((q) => q.method === "GET" && q.path.endsWith(layer.digest));
    expect(gets.map((q) => q.range)).toEqual(["", `bytes=${cut}-`]);
    const check = await bunker.ctr(["images", "check"]);
    expect(check.stdout).toMatch(new RegExp(`${r.replaceAll(".", "\\.")}\\s.*complete \\(2/2\\)`));
  }, 120_000);

  test("a diffID that does not match fails the pull and commits no snapshot", async () => {
    const good = buildImage({ files: [{ a: "first\n" }, { b: "second\n" }] });
    const diffIds = [`sha256:${"0".repeat(64)}`, `sha256:${"1".repeat(64)}`];
    const config = blobOf(
      MediaType.OciConfig,
      new TextEncoder().encode(
        JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: diffIds } }),
      ),
    );
    const manifest = blobOf(
      MediaType.OciManifest,
      new TextEncoder().encode(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: MediaType.OciManifest,
          config: config.desc,
          layers: good.layers.map((l) => l.desc),
        }),
      ),
    );
    const r = push(registry, "test/tampered", "v1", [config, ...good.layers, manifest], manifest);
    const before = await snapshotNames(bunker);
    const err = await transferPull(transport, r).catch((e) => e);
    expect(err).toBeInstanceOf(Error);
    expect(err.message).toContain(`wrong diff id calculated on extraction "${diffIds[0]}"`);
    expect(err.message).toMatch(/got sha256:[0-9a-f]{64}/);
    expect(await snapshotNames(bunker)).toEqual(before);
    expect((await bunker.ctr(["images", "ls", "-q"])).stdout).not.toContain(r);
  }, 120_000);

  test("a multi-arch index: the asked platform's content only, unpacked into the asked snapshotter", async () => {
    const amd = buildImage({
      files: [{ which: "amd64\n" }],
      platform: { os: "linux", architecture: "amd64" },
    });
    const arm = buildImage({
      files: [{ which: "arm64\n" }],
      platform: { os: "linux", architecture: "arm64" },
    });
    const index = buildIndex([amd, arm]);
    const r = push(registry, "test/multi", "v1", [...blobsOf(amd), ...blobsOf(arm), index], index);
    const arm64 = { os: "linux", architecture: "arm64" };
    await transferPull(transport, r, { name: `${r}-arm64`, platforms: [arm64], snapshotter: "native" });
    const digests = async () => (await bunker.ctr(["content", "ls", "-q"])).stdout;
    expect(await digests()).toContain(arm.layers[0]!.desc.digest);
    expect(await digests()).not.toContain(amd.layers[0]!.desc.digest);
    const native = (await bunker.ctr(["snapshots", "--snapshotter", "native", "ls"])).stdout;
    const armDiff = JSON.parse(new TextDecoder().decode(arm.config.bytes)).rootfs.diff_ids[0];
    expect(native).toContain(armDiff);
    const ls = (await bunker.ctr(["images", "ls"])).stdout;
    expect(ls).toContain(`${r}-arm64`);
    expect(ls).toContain(index.desc.digest);

    // The host's platform by default.
    await transferPull(transport, r, { name: `${r}-amd64` });
    expect(await digests()).toContain(amd.layers[0]!.desc.digest);
    const amdDiff = JSON.parse(new TextDecoder().decode(amd.config.bytes)).rootfs.diff_ids[0];
    expect(await snapshotNames(bunker)).toContain(amdDiff);
  }, 120_000);
});

describe.skipIf(!ready)("Transfer: credentials through an auth stream", () => {
  let registry: TestRegistry;
  let bunker: DaemonHandle;
  beforeAll(async () => {
    registry = await startRegistry({ auth: { htpasswd: { users: { bob: "builder" } } } });
    bunker = await startBunkerd();
  }, 60_000);
  afterAll(async () => {
    await bunker?.stop();
    await registry?.stop();
  });

  test("the daemon asks the client for the registry's credentials and pulls with them", async () => {
    const image = buildImage({ files: [{ secret: "behind basic auth\n" }] });
    const ref = `${registry.host}/private/app:v1`;
    pushBlobs(ref, blobsOf(image), image.manifest.desc, { creds: "bob:builder" });
    const transport = createDaemonTransport(bunker.address, { namespace: NS });
    const denied = await transferPull(transport, ref).catch((e) => e);
    expect(denied.message).toContain("pull access denied");
    const { asked } = await transferPull(transport, ref, {
      credentials: { username: "bob", secret: "builder" },
    });
    expect(asked.length).toBeGreaterThan(0);
    expect(new Set(asked)).toEqual(new Set([registry.host]));
    expect((await bunker.ctr(["images", "ls", "-q"])).stdout).toContain(ref);
  }, 60_000);
});
