import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BunkerError, Kind } from "@bunkerd/plugin-api";
import { MediaType } from "@bunkerd/registry";
import {
  startFakeRegistry,
  type FakeRegistry,
} from "../../../../../packages/registry/src/testutil/fake-registry.ts";
import {
  type Blob,
  blobOf,
  blobsOf,
  buildImage,
  buildIndex,
  type TestImage,
} from "../../../../../packages/registry/src/testutil/image.ts";
import { chainIds } from "@bunkerd/registry";
import { refKey } from "@bunkerd/registry";
import type { ProgressEvent } from "./progress.ts";
import { pull } from "./pull.ts";
import { memoryServices, removeMemoryStores, type Services } from "./testkit.ts";
import type { ImageStoreTarget, RegistrySource } from "./types.ts";

afterAll(removeMemoryStores);

const NS = "default";
const amd64 = { os: "linux", architecture: "amd64" };
const arm64 = { os: "linux", architecture: "arm64" };

const cleanup: (() => void)[] = [];
afterEach(() => {
  for (const fn of cleanup.splice(0)) fn();
});

function serve(
  blobs: Blob[],
  tags: Record<string, Blob>,
  extra: Parameters<typeof startFakeRegistry>[0] = {},
) {
  const reg = startFakeRegistry({
    blobs,
    tags: Object.fromEntries(Object.entries(tags).map(([t, b]) => [t, b.desc])),
    ...extra,
  });
  cleanup.push(() => reg.stop());
  return reg;
}

function services(o: Parameters<typeof memoryServices>[0] = {}): Services {
  const s = memoryServices(o);
  cleanup.push(() => s.dispose());
  return s;
}

const source = (reg: FakeRegistry, repo = "test/img:v1"): RegistrySource => ({
  kind: "registry",
  reference: `${reg.host}/${repo}`,
  headers: {},
});

const target = (name: string, o: Partial<ImageStoreTarget> = {}): ImageStoreTarget => ({
  kind: "image-store",
  name,
  labels: {},
  platforms: [amd64],
  allMetadata: false,
  manifestLimit: 0,
  extraReferences: [],
  unpacks: [{ platform: amd64, snapshotter: "" }],
  ...o,
});

const twoLayers = () =>
  // The second layer is random, so its gzip is big enough to be cut and resumed.
  buildImage({
    files: [
      { "etc/a": "one\n" },
      { "etc/b": "two\n", "etc/c": crypto.getRandomValues(new Uint8Array(300_000)) },
    ],
  });

const blobGets = (reg: FakeRegistry) =>
  reg.requests
    .filter((r) => r.method === "GET" && r.path.includes("/blobs/"))
    .map((r) => r.path.split("/").at(-1));

const diffIdsOf = (img: TestImage): string[] =>
  JSON.parse(new TextDecoder().decode(img.config.bytes)).rootfs.diff_ids;

describe("pull", () => {
  test("fetches, unpacks and records the image with containerd's labels, under a lease it deletes", async () => {
    const img = twoLayers();
    const reg = serve(blobsOf(img), { v1: img.manifest });
    const s = services();
    const src = source(reg);
    await pull(s, src, target(src.reference, { labels: { team: "a" } }), {
      ns: NS,
      signal: new AbortController().signal,
    });

    expect(s.images.images.get(`${NS}/${src.reference}`)).toEqual({
      name: src.reference,
      labels: { team: "a" },
      target: { ...img.manifest.desc, annotations: {} },
    });
    const chain = chainIds(diffIdsOf(img));
    expect(s.snapshots.committed().sort()).toEqual([...chain].sort());
    const labels = s.content.blobs.get(NS)!;
    const dist = { "containerd.io/distribution.source.127.0.0.1": "test/img" };
    expect(labels.get(img.manifest.desc.digest)).toEqual({
      "containerd.io/gc.ref.content.config": img.config.desc.digest,
      "containerd.io/gc.ref.content.l.0": img.layers[0]!.desc.digest,
      "containerd.io/gc.ref.content.l.1": img.layers[1]!.desc.digest,
      ...dist,
    });
    expect(labels.get(img.config.desc.digest)).toEqual({
      "containerd.io/gc.ref.snapshot.overlayfs": chain[1]!,
      ...dist,
    });
    img.layers.forEach((l, i) => {
      expect(labels.get(l.desc.digest)).toEqual({
        "containerd.io/uncompressed": diffIdsOf(img)[i]!,
        ...dist,
      });
    });
    // Prepared on the parent chain, committed as the chain ID, labelled with it.
    expect(s.snapshots.calls).toEqual([
      `prepare ${chain[0]} `,
      `commit ${chain[0]}`,
      `prepare ${chain[1]} ${chain[0]}`,
      `commit ${chain[1]}`,
    ]);
    expect(s.snapshots.snapshots.get(`overlayfs/${NS}/${chain[1]}`)?.labels).toEqual({
      "containerd.io/snapshot.ref": chain[1]!,
    });
    // One lease for the operation, with containerd's 24 h expiry, deleted at the end.
    expect(s.leases.deleted).toEqual(["lease-1"]);
    expect(s.content.leased.get("lease-1")?.size).toBe(4);
    expect(s.snapshots.snapshots.get(`overlayfs/${NS}/${chain[0]}`)?.lease).toBe("lease-1");
    expect(s.content.ingests.size).toBe(0);
  });

  test("progress: resolving, pulling, each blob waiting then complete, each layer unpacking then unpacked, saved, completed", async () => {
    const img = twoLayers();
    const reg = serve(blobsOf(img), { v1: img.manifest });
    const s = services();
    const src = source(reg);
    const events: ProgressEvent[] = [];
    await pull(s, src, target(src.reference), {
      ns: NS,
      signal: new AbortController().signal,
      progress: (p) => events.push(p),
    });
    const what = `OCI Registry (${src.reference})`;
    expect(events.slice(0, 3).map((e) => [e.event, e.name ?? ""])).toEqual([
      [`Resolving from ${what}`, ""],
      [`Pulling from ${what}`, ""],
      ["fetching image content", src.reference],
    ]);
    expect(events.slice(-2).map((e) => [e.event, e.name ?? ""])).toEqual([
      ["saved", src.reference],
      [`Completed pull from ${what}`, ""],
    ]);
    const blobs = [img.manifest, img.config, ...img.layers];
    const isUnpack = (e: ProgressEvent) => e.event === "unpacking" || e.event === "unpacked";
    for (const b of blobs) {
      const all = events.filter((e) => e.desc?.digest === b.desc.digest);
      const mine = all.filter((e) => !isUnpack(e));
      expect(mine[0]).toMatchObject({
        event: "waiting",
        name: refKey(b.desc),
        progress: 0,
        total: b.desc.size,
      });
      expect(mine.at(-1)).toMatchObject({ event: "complete", progress: b.desc.size, total: b.desc.size });
      expect(mine.slice(1, -1).every((e) => e.event === "downloading")).toBe(true);
      // Under the download's name, after its complete: unpacking (0 of the size), then unpacked.
      const unpacks = all.filter(isUnpack);
      if (!img.layers.includes(b)) {
        expect(unpacks).toEqual([]);
        continue;
      }
      expect(all.slice(-2)).toEqual(unpacks);
      expect(unpacks.map((e) => [e.event, e.name, e.parents, e.progress, e.total])).toEqual([
        ["unpacking", refKey(b.desc), [refKey(img.manifest.desc)], 0, b.desc.size],
        ["unpacked", refKey(b.desc), [refKey(img.manifest.desc)], b.desc.size, b.desc.size],
      ]);
    }
    // Layers are applied in order: layer 0 unpacked before layer 1 starts unpacking.
    const at = (event: string, b: Blob) =>
      events.findIndex((e) => e.event === event && e.desc?.digest === b.desc.digest);
    expect(at("unpacked", img.layers[0]!)).toBeLessThan(at("unpacking", img.layers[1]!));
    // Unpack events come before the image is saved.
    expect(events.findLastIndex(isUnpack)).toBeLessThan(events.findIndex((e) => e.event === "saved"));
    const parents = (d: Blob) =>
      events.find((e) => e.event === "waiting" && e.desc?.digest === d.desc.digest)?.parents;
    expect(parents(img.manifest)).toEqual([src.reference]);
    expect(parents(img.config)).toEqual([refKey(img.manifest.desc)]);
    expect(parents(img.layers[1]!)).toEqual([refKey(img.manifest.desc)]);
  });

  test("a multi-arch index: only the asked platform's manifest, config and layers", async () => {
    const a = buildImage({ files: [{ amd: "amd64\n" }], platform: amd64 });
    const b = buildImage({ files: [{ arm: "arm64\n" }], platform: arm64 });
    const index = buildIndex([a, b]);
    const reg = serve([...blobsOf(a), ...blobsOf(b), index], { v1: index });
    const src = source(reg);

    const s = services();
    await pull(
      s,
      src,
      target(src.reference, { platforms: [arm64], unpacks: [{ platform: arm64, snapshotter: "native" }] }),
      {
        ns: NS,
        signal: new AbortController().signal,
      },
    );
    expect(new Set(blobGets(reg))).toEqual(new Set([b.config.desc.digest, b.layers[0]!.desc.digest]));
    expect(s.images.images.get(`${NS}/${src.reference}`)?.target.digest).toBe(index.desc.digest);
    expect(s.content.blobs.get(NS)!.get(index.desc.digest)).toMatchObject({
      "containerd.io/gc.ref.content.m.0": a.manifest.desc.digest,
      "containerd.io/gc.ref.content.m.1": b.manifest.desc.digest,
    });
    expect(s.snapshots.committed()).toEqual(chainIds(diffIdsOf(b)));
    expect([...s.snapshots.snapshots.keys()][0]).toStartWith("native/");

    // all_metadata: every manifest and config, layers only for the asked platform.
    const s2 = services();
    reg.requests.length = 0;
    await pull(s2, src, target(src.reference, { allMetadata: true }), {
      ns: NS,
      signal: new AbortController().signal,
    });
    expect(new Set(blobGets(reg))).toEqual(
      new Set([a.config.desc.digest, a.layers[0]!.desc.digest, b.config.desc.digest]),
    );

    // Nothing for the platform: NotFound, not an empty image.
    const s3 = services();
    const riscv = { os: "linux", architecture: "riscv64" };
    const err = await pull(s3, src, target(src.reference, { platforms: [riscv], unpacks: [] }), {
      ns: NS,
      signal: new AbortController().signal,
    }).catch((e) => e);
    expect(err).toBeInstanceOf(BunkerError);
    expect(err.kind).toBe(Kind.NotFound);
    expect(s3.images.images.size).toBe(0);
  });

  test("a diffID mismatch removes the extraction snapshot, commits nothing, names both digests", async () => {
    const img = twoLayers();
    const reg = serve(blobsOf(img), { v1: img.manifest });
    const s = services();
    s.differ.lie.add(img.layers[0]!.desc.digest);
    const src = source(reg);
    const err = await pull(s, src, target(src.reference), {
      ns: NS,
      signal: new AbortController().signal,
    }).catch((e) => e);
    expect(err).toBeInstanceOf(BunkerError);
    const want = diffIdsOf(img)[0]!;
    expect(err.message).toContain(`wrong diff id calculated on extraction "${want}"`);
    expect(err.message).toMatch(/got sha256:[0-9a-f]{64}/);
    expect(s.snapshots.snapshots.size).toBe(0);
    expect(s.snapshots.calls).toContain(`remove ${want}`);
    expect(s.images.images.size).toBe(0);
    expect(s.leases.deleted).toEqual(["lease-1"]);
  });

  test("pipelined: layer 0 is applied while layer 1 downloads", async () => {
    const img = twoLayers();
    let requested!: () => void;
    const layer1Requested = new Promise<void>((r) => {
      requested = r;
    });
    let applying!: () => void;
    const layer0Applying = new Promise<void>((r) => {
      applying = r;
    });
    // Layer 1's answer waits for layer 0's apply, which waits for layer 1's request: a pull
    // that downloaded and applied in turn would never finish.
    const reg = serve(
      blobsOf(img),
      { v1: img.manifest },
      {
        intercept: async (_req, url) => {
          if (url.pathname.endsWith(img.layers[1]!.desc.digest)) {
            requested();
            await layer0Applying;
          }
          return undefined;
        },
      },
    );
    const s = services();
    const apply = s.differ.apply.bind(s.differ);
    s.differ.apply = async (desc, mounts, opts) => {
      if (desc.digest === img.layers[0]!.desc.digest) {
        applying();
        await layer1Requested;
      }
      return apply(desc, mounts, opts);
    };
    const src = source(reg);
    await pull(s, src, target(src.reference), { ns: NS, signal: new AbortController().signal });
    expect(s.differ.applied).toEqual(img.layers.map((l) => l.desc.digest));
  });

  test("a fresh pull labels each blob with its commit and looks up only the first chain ID", async () => {
    const img = twoLayers();
    const reg = serve(blobsOf(img), { v1: img.manifest });
    const s = services();
    const calls: string[] = [];
    const count = <T extends object>(o: T, name: string, ...methods: (keyof T & string)[]) => {
      for (const m of methods) {
        const f = (o[m] as (...a: unknown[]) => unknown).bind(o);
        (o as Record<string, unknown>)[m] = (...a: unknown[]) => {
          calls.push(`${name}.${m}`);
          return f(...a);
        };
      }
    };
    count(s.content, "content", "info", "update", "blobPath");
    count(s.snapshots, "snapshots", "stat");
    const src = source(reg);
    await pull(s, src, target(src.reference), { ns: NS, signal: new AbortController().signal });
    // No Info, no read back of the manifest or config, no label update but the unpack's own
    // (two diffIDs, the config's snapshot reference); the second layer's parent was made here.
    expect(calls.sort()).toEqual(
      [
        "content.blobPath",
        "content.blobPath",
        "content.update",
        "content.update",
        "content.update",
        "snapshots.stat",
      ].sort(),
    );
    const labels = s.content.blobs.get(NS)!.get(img.manifest.desc.digest)!;
    expect(labels["containerd.io/gc.ref.content.config"]).toBe(img.config.desc.digest);
    expect(labels["containerd.io/gc.ref.content.l.1"]).toBe(img.layers[1]!.desc.digest);
    expect(Object.keys(labels).some((k) => k.startsWith("containerd.io/distribution.source."))).toBe(true);
  });

  test("layers whose chain ID is committed are neither fetched nor applied", async () => {
    const img = twoLayers();
    const reg = serve(blobsOf(img), { v1: img.manifest });
    const s = services();
    const src = source(reg);
    await pull(s, src, target(src.reference), { ns: NS, signal: new AbortController().signal });
    expect(s.differ.applied.length).toBe(2);
    // Another namespace: its own content, the same snapshots are not there either; same one: skipped.
    reg.requests.length = 0;
    s.content.blobs.get(NS)!.delete(img.layers[0]!.desc.digest);
    const events: ProgressEvent[] = [];
    await pull(s, src, target(`${src.reference}-again`), {
      ns: NS,
      signal: new AbortController().signal,
      progress: (p) => events.push(p),
    });
    expect(blobGets(reg)).toEqual([]);
    expect(events.filter((e) => e.event === "unpacking" || e.event === "unpacked")).toEqual([]);
    expect(s.differ.applied.length).toBe(2);
  });

  test("two pulls of the same image at once download each blob once", async () => {
    const img = twoLayers();
    const reg = serve(blobsOf(img), { v1: img.manifest });
    const s = services();
    const src = source(reg);
    const run = (name: string) =>
      pull(s, src, target(name), { ns: NS, signal: new AbortController().signal });
    await Promise.all([run("first"), run("second")]);
    const gets = blobGets(reg);
    expect(gets.sort()).toEqual([img.config.desc.digest, ...img.layers.map((l) => l.desc.digest)].sort());
    expect(
      reg.requests.filter((r) => r.method === "GET" && r.path.includes("/manifests/sha256:")).length,
    ).toBe(1);
    expect(s.images.images.size).toBe(2);
  });

  test("an interrupted ingest is resumed from its offset with a Range request", async () => {
    const img = twoLayers();
    const reg = serve(blobsOf(img), { v1: img.manifest });
    const s = services();
    const layer = img.layers[1]!;
    const kept = 100_000;
    s.content.seedIngest(NS, refKey(layer.desc), layer.bytes.subarray(0, kept));
    const src = source(reg);
    await pull(s, src, target(src.reference), { ns: NS, signal: new AbortController().signal });
    const get = reg.requests.find((r) => r.method === "GET" && r.path.endsWith(layer.desc.digest));
    expect(get?.headers.range).toBe(`bytes=${kept}-`);
    expect(s.content.blobs.get(NS)!.has(layer.desc.digest)).toBe(true);
  });

  test("kept bytes that do not add up to the blob are dropped and fetched again", async () => {
    const img = twoLayers();
    const reg = serve(blobsOf(img), { v1: img.manifest });
    const s = services();
    const layer = img.layers[1]!;
    s.content.seedIngest(NS, refKey(layer.desc), new Uint8Array(5000).fill(7));
    const src = source(reg);
    await pull(s, src, target(src.reference), { ns: NS, signal: new AbortController().signal });
    const gets = reg.requests.filter((r) => r.method === "GET" && r.path.endsWith(layer.desc.digest));
    expect(gets.map((g) => g.headers.range ?? "")).toEqual(["bytes=5000-", ""]);
    expect(s.content.blobs.get(NS)!.has(layer.desc.digest)).toBe(true);
  });

  test("a pull its caller cancels keeps its lease, so its downloads can be resumed", async () => {
    const img = twoLayers();
    const ctl = new AbortController();
    const reg = serve(
      blobsOf(img),
      { v1: img.manifest },
      {
        intercept: async (_req, url) => {
          if (url.pathname.endsWith(img.layers[1]!.desc.digest)) {
            ctl.abort();
            await Bun.sleep(20);
          }
          return undefined;
        },
      },
    );
    const s = services();
    const src = source(reg);
    const err = await pull(s, src, target(src.reference), { ns: NS, signal: ctl.signal }).catch((e) => e);
    expect(err).toBeDefined();
    expect(s.leases.deleted).toEqual([]);
    expect([...s.leases.live.keys()]).toEqual(["lease-1"]);
    expect(s.leases.live.get("lease-1")?.["containerd.io/gc.expire"]).toMatch(
      /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/,
    );
    expect(s.images.images.size).toBe(0);
  });

  test("a caller's lease is used and kept; without unpacks, layers are plain children", async () => {
    const img = twoLayers();
    const reg = serve(blobsOf(img), { v1: img.manifest });
    const s = services();
    const src = source(reg);
    await pull(s, src, target(src.reference, { unpacks: [] }), {
      ns: NS,
      lease: "mine",
      signal: new AbortController().signal,
    });
    expect(s.leases.live.size).toBe(0);
    expect(s.leases.deleted).toEqual([]);
    expect(s.content.leased.get("mine")?.size).toBe(4);
    expect(s.snapshots.snapshots.size).toBe(0);
  });

  test("an image whose platform no unpack config matches is an error naming the platform", async () => {
    const img = buildImage({ files: [{ a: "a" }], platform: arm64 });
    const reg = serve(blobsOf(img), { v1: img.manifest });
    const s = services();
    const src = source(reg);
    const err = await pull(s, src, target(src.reference, { platforms: [] }), {
      ns: NS,
      signal: new AbortController().signal,
    }).catch((e) => e);
    expect(err.message).toContain("unpacker does not support platform linux/arm64");
  });

  test("hosts.toml from the request's host_dir, else the plugin's config_path, maps the registry", async () => {
    const img = twoLayers();
    const reg = serve(blobsOf(img), { v1: img.manifest });
    const dir = mkdtempSync(join(tmpdir(), "transfer-hosts-"));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    mkdirSync(join(dir, "registry.example"));
    writeFileSync(
      join(dir, "registry.example", "hosts.toml"),
      `server = "${reg.url}"\n[host."${reg.url}"]\n  capabilities = ["pull", "resolve"]\n`,
    );
    const src: RegistrySource = { kind: "registry", reference: "registry.example/test/img:v1", headers: {} };
    const s = services();
    await pull(s, { ...src, hostDir: dir }, target("a"), { ns: NS, signal: new AbortController().signal });
    expect(s.images.images.get(`${NS}/a`)?.target.digest).toBe(img.manifest.desc.digest);
    // The distribution source names the reference's host, not the endpoint's.
    expect(s.content.blobs.get(NS)!.get(img.config.desc.digest)).toMatchObject({
      "containerd.io/distribution.source.registry.example": "test/img",
    });
    const s2 = services({ hostsDir: dir });
    await pull(s2, src, target("b"), { ns: NS, signal: new AbortController().signal });
    expect(s2.images.images.has(`${NS}/b`)).toBe(true);
  });

  test("schema 1 is refused", async () => {
    const m = blobOf(MediaType.DockerSchema1Manifest, new TextEncoder().encode("{}"));
    const reg = serve([m], { v1: m });
    const s = services();
    const src = source(reg);
    const err = await pull(s, src, target(src.reference), {
      ns: NS,
      signal: new AbortController().signal,
    }).catch((e) => e);
    expect(err).toBeInstanceOf(BunkerError);
    expect(err.message).toContain("schema 1");
  });
});
