/** In-memory stand-ins for the services a pull drives, for tests without root or workers:
 *  a content store with ingest sessions (blobs as files in a temp dir, so paths work), a
 *  snapshotter that records its calls, a differ that hashes the uncompressed layer, images and
 *  leases. Not part of the package surface. */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { alreadyExists, failedPrecondition, notFound, unavailable } from "@bunkerd/plugin-api";
import type { Descriptor } from "@bunkerd/registry";
import type { Mount } from "../../services/diff/service.ts";
import type { Labels, Scope } from "../../services/snapshots/index.ts";
import { Inflight, type IngestApi } from "./fetch.ts";
import type { OpenOptions, Opened } from "./ingest.ts";
import type { ImageRecord, PullServices } from "./pull.ts";

const sha256 = (b: Uint8Array) => `sha256:${new Bun.CryptoHasher("sha256").update(b).digest("hex")}`;

interface Ingest {
  ref: string;
  data: Uint8Array[];
  size: number;
  expected?: string;
  open: boolean;
}

// Every store's blob dir, for removeMemoryStores(): each test file using these stand-ins calls
// it from its own afterAll (bun test evaluates this module once for all files of a run).
const madeDirs: string[] = [];
export function removeMemoryStores(): void {
  for (const dir of madeDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

export class MemoryContent implements IngestApi {
  readonly dir = madeDirs[madeDirs.push(mkdtempSync(join(tmpdir(), "transfer-content-"))) - 1]!;
  /** ns → digest → labels */
  readonly blobs = new Map<string, Map<string, Labels>>();
  readonly ingests = new Map<string, Ingest>();
  private readonly sessions = new Map<string, { ns: string; ref: string; lease?: string }>();
  readonly leased = new Map<string, Set<string>>();
  private next = 1;
  writes = 0;

  private ns(ns: string) {
    let m = this.blobs.get(ns);
    if (!m) {
      m = new Map();
      this.blobs.set(ns, m);
    }
    return m;
  }

  /** Puts a partial ingest in place, as an interrupted pull leaves it. */
  seedIngest(ns: string, ref: string, bytes: Uint8Array): void {
    this.ingests.set(`${ns}/${ref}`, { ref, data: [bytes], size: bytes.length, open: false });
  }

  async open(ns: string, ref: string, o: OpenOptions): Promise<Opened> {
    if (o.expected && this.ns(ns).has(o.expected)) {
      if (o.lease) this.lease(o.lease, o.expected);
      return { exists: true };
    }
    const key = `${ns}/${ref}`;
    let ing = this.ingests.get(key);
    if (ing?.open) throw unavailable(`ref ${ref} locked`);
    if (!ing) {
      ing = { ref, data: [], size: 0, open: false };
      this.ingests.set(key, ing);
    }
    ing.open = true;
    ing.expected = o.expected;
    const id = `${this.next++}`;
    this.sessions.set(id, { ns, ref, lease: o.lease });
    return { exists: false, id, offset: ing.size };
  }

  private ingest(id: string): Ingest {
    const s = this.sessions.get(id);
    if (!s) throw notFound(`ingest session ${id}`);
    return this.ingests.get(`${s.ns}/${s.ref}`)!;
  }

  async write(id: string, offset: number, data: Uint8Array): Promise<number> {
    const ing = this.ingest(id);
    if (offset !== ing.size) throw failedPrecondition(`write @${offset} must occur at ${ing.size}`);
    ing.data.push(data.slice());
    ing.size += data.length;
    this.writes++;
    return data.length;
  }

  async truncate(id: string, size: number): Promise<void> {
    if (size !== 0) throw failedPrecondition("truncate to 0 only");
    const ing = this.ingest(id);
    ing.data = [];
    ing.size = 0;
  }

  async commit(
    id: string,
    size: number,
    expected: string,
    labels?: Labels,
    tail?: Uint8Array,
  ): Promise<string> {
    const s = this.sessions.get(id)!;
    const ing = this.ingest(id);
    try {
      if (tail && tail.length > 0) await this.write(id, ing.size, tail);
      const bytes = Buffer.concat(ing.data);
      if (size && bytes.length !== size) throw failedPrecondition(`unexpected commit size ${bytes.length}`);
      const digest = sha256(bytes);
      if (expected && digest !== expected)
        throw failedPrecondition(`unexpected commit digest ${digest}, expected ${expected}`);
      this.ingests.delete(`${s.ns}/${s.ref}`);
      if (this.ns(s.ns).has(digest)) throw alreadyExists(`content ${digest}`);
      writeFileSync(join(this.dir, digest.slice(7)), bytes);
      this.ns(s.ns).set(digest, { ...labels });
      if (s.lease) this.lease(s.lease, digest);
      return digest;
    } finally {
      ing.open = false;
      this.sessions.delete(id);
    }
  }

  async close(id: string): Promise<void> {
    const s = this.sessions.get(id);
    if (!s) return;
    this.sessions.delete(id);
    const ing = this.ingests.get(`${s.ns}/${s.ref}`);
    if (ing) ing.open = false;
  }

  async abort(id: string): Promise<void> {
    const s = this.sessions.get(id);
    await this.close(id);
    if (s) this.ingests.delete(`${s.ns}/${s.ref}`);
  }

  private lease(lease: string, digest: string) {
    const set = this.leased.get(lease) ?? new Set();
    set.add(digest);
    this.leased.set(lease, set);
  }

  async info(ns: string, digest: string) {
    const labels = this.ns(ns).get(digest);
    if (!labels) throw notFound(`content digest ${digest}`);
    return { digest, labels };
  }

  async update(ns: string, info: { digest: string; labels?: Labels }, mask: string[]) {
    const labels = this.ns(ns).get(info.digest);
    if (!labels) throw notFound(`content digest ${info.digest}`);
    for (const path of mask) {
      const key = path.slice("labels.".length);
      const v = info.labels?.[key];
      if (v) labels[key] = v;
      else delete labels[key];
    }
    return { digest: info.digest, labels };
  }

  async blobPath(ns: string, digest: string) {
    if (!this.ns(ns).has(digest)) throw notFound(`content digest ${digest}`);
    const path = join(this.dir, digest.slice(7));
    return { path, size: Bun.file(path).size };
  }

  dispose() {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export interface SnapshotRecord {
  key: string;
  parent?: string;
  labels: Labels;
  committed: boolean;
  lease?: string;
}

export class MemorySnapshots {
  readonly snapshots = new Map<string, SnapshotRecord>();
  readonly calls: string[] = [];

  private k(sn: string, scope: Scope, key: string) {
    return `${sn}/${scope.namespace}/${key}`;
  }

  async stat(sn: string, scope: Scope, key: string) {
    const s = this.snapshots.get(this.k(sn, scope, key));
    if (!s) throw notFound(`snapshot ${key}`);
    return s;
  }

  async prepare(
    sn: string,
    scope: Scope,
    key: string,
    parent?: string,
    opts?: { labels?: Labels },
  ): Promise<Mount[]> {
    this.calls.push(`prepare ${key.split(" ")[1]} ${parent ?? ""}`);
    if (this.snapshots.has(this.k(sn, scope, key))) throw alreadyExists(`snapshot ${key}`);
    if (parent && !this.snapshots.get(this.k(sn, scope, parent))?.committed)
      throw notFound(`parent snapshot ${parent}`);
    this.snapshots.set(this.k(sn, scope, key), {
      key,
      parent,
      labels: { ...opts?.labels },
      committed: false,
      lease: scope.lease,
    });
    return [{ type: "bind", source: `/snapshots/${key}`, options: ["rw", "rbind"] }];
  }

  async commit(sn: string, scope: Scope, name: string, key: string, opts?: { labels?: Labels }) {
    this.calls.push(`commit ${name}`);
    const active = this.snapshots.get(this.k(sn, scope, key));
    if (!active || active.committed) throw notFound(`snapshot ${key}`);
    if (this.snapshots.has(this.k(sn, scope, name))) throw alreadyExists(`snapshot ${name}`);
    this.snapshots.delete(this.k(sn, scope, key));
    this.snapshots.set(this.k(sn, scope, name), {
      ...active,
      key: name,
      labels: { ...opts?.labels },
      committed: true,
    });
  }

  async remove(sn: string, scope: Scope, key: string) {
    this.calls.push(`remove ${key.split(" ")[1] ?? key}`);
    if (!this.snapshots.delete(this.k(sn, scope, key))) throw notFound(`snapshot ${key}`);
  }

  committed(): string[] {
    return [...this.snapshots.values()].filter((s) => s.committed).map((s) => s.key);
  }
}

/** A differ that "applies" a gzip layer by hashing it uncompressed: the diffID it reports is
 *  the real one, unless `lie` names a layer to report wrong. */
export class HashDiffer {
  readonly applied: string[] = [];
  lie = new Set<string>();

  async apply(desc: Descriptor, _mounts: Mount[], opts: { blobPath: string; tmpMountsDir: string }) {
    const bytes = await Bun.file(opts.blobPath).bytes();
    this.applied.push(desc.digest);
    const raw = desc.mediaType.endsWith("gzip") ? gunzipSync(bytes) : bytes;
    const digest = this.lie.has(desc.digest) ? sha256(new TextEncoder().encode("lie")) : sha256(raw);
    return { mediaType: "application/vnd.oci.image.layer.v1.tar", digest, size: raw.length };
  }
}

export class MemoryImages {
  readonly images = new Map<string, ImageRecord>();
  async create(ns: string, image: ImageRecord) {
    const key = `${ns}/${image.name}`;
    if (this.images.has(key)) throw alreadyExists(`image "${image.name}"`);
    this.images.set(key, image);
    return image;
  }
  async update(ns: string, image: ImageRecord) {
    const key = `${ns}/${image.name}`;
    if (!this.images.has(key)) throw notFound(`image "${image.name}"`);
    this.images.set(key, image);
    return image;
  }
}

export class MemoryLeases {
  readonly live = new Map<string, Labels>();
  readonly deleted: string[] = [];
  private next = 1;
  async create(_ns: string, id: string, labels: Labels = {}) {
    const lid = id || `lease-${this.next++}`;
    this.live.set(lid, labels);
    return { id: lid };
  }
  async delete(_ns: string, id: string) {
    this.live.delete(id);
    this.deleted.push(id);
  }
}

export interface Services extends PullServices {
  ingest: MemoryContent;
  content: MemoryContent;
  snapshots: MemorySnapshots;
  differ: HashDiffer;
  images: MemoryImages;
  leases: MemoryLeases;
}

export function memoryServices(o: Partial<PullServices> = {}): Services & { dispose(): void } {
  const content = new MemoryContent();
  return {
    ingest: content,
    content,
    snapshots: new MemorySnapshots(),
    differ: new HashDiffer(),
    images: new MemoryImages(),
    leases: new MemoryLeases(),
    tmpMountsDir: "/nonexistent",
    inflight: new Inflight(),
    maxConcurrentDownloads: 3,
    defaultSnapshotter: "overlayfs",
    ...o,
    dispose: () => content.dispose(),
  } as Services & { dispose(): void };
}
