import { afterEach, beforeEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Kind } from "@bunkerd/plugin-api";
import { type Descriptor, type Fetcher, MediaType } from "@bunkerd/registry";
import { NamespacedContent } from "../../services/content/store.ts";
import { LocalStore } from "../content/index.ts";
import { ContentRecords } from "../metadata/content-records.ts";
import { openMetadata, write } from "../metadata/db.ts";
import { createLease } from "../metadata/leases.ts";
import { fetchBlob, Inflight } from "./fetch.ts";
import { IngestSessions } from "./ingest.ts";
import { refKey } from "@bunkerd/registry";
import { ProgressTracker } from "./progress.ts";

// The sessions over the real namespaced content store (local blobs + SQLite records).

let dir: string;
let content: NamespacedContent;
let sessions: IngestSessions;
let db: ReturnType<typeof openMetadata>;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), "ingest-sessions-"));
  db = openMetadata(":memory:");
  content = new NamespacedContent(await LocalStore.open(join(dir, "content")), new ContentRecords(db));
  sessions = new IngestSessions(content);
});
afterEach(async () => {
  await sessions.dispose();
  rmSync(dir, { recursive: true, force: true });
});

const bytes = (n: number, seed = 1) => {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
};
const sha256 = (b: Uint8Array) => `sha256:${new Bun.CryptoHasher("sha256").update(b).digest("hex")}`;

test("a session writes, keeps its ingest when closed, resumes at the offset, commits with labels", async () => {
  const data = bytes(3000);
  const digest = sha256(data);
  const o = { total: data.length, expected: digest };
  const a = await sessions.open("ns", "layer-x", o);
  if (a.exists) throw new Error("unexpected");
  expect(a.offset).toBe(0);
  expect(await sessions.write(a.id, 0, data.slice(0, 1000))).toBe(1000);
  // The ref is held while the session is open.
  expect(await sessions.open("ns", "layer-x", o).catch((e) => e.kind)).toBe(Kind.Unavailable);
  await sessions.close(a.id);
  expect(sessions.count()).toBe(0);

  const b = await sessions.open("ns", "layer-x", o);
  if (b.exists) throw new Error("unexpected");
  expect(b.offset).toBe(1000);
  await sessions.write(b.id, 1000, data.slice(1000));
  expect(await sessions.commit(b.id, data.length, digest, { a: "b" })).toBe(digest);
  expect((await content.info("ns", digest)).labels).toEqual({ a: "b" });
  expect(await sessions.write(b.id, 0, data).catch((e) => e.kind)).toBe(Kind.NotFound);

  // Stored: opening it again says so, and leases it to the caller's lease.
  write(db, (tx) => createLease(tx, "ns", "l1", {}));
  expect(await sessions.open("ns", "layer-x", { ...o, lease: "l1" })).toEqual({ exists: true });
});

test("abort drops the ingest; a forgotten session is closed after the idle time", async () => {
  const data = bytes(100);
  const o = { total: 100, expected: sha256(data) };
  const a = await sessions.open("ns", "r", o);
  if (a.exists) throw new Error("unexpected");
  await sessions.write(a.id, 0, data.slice(0, 50));
  await sessions.abort(a.id);
  const b = await sessions.open("ns", "r", o);
  if (b.exists) throw new Error("unexpected");
  expect(b.offset).toBe(0);
  await sessions.write(b.id, 0, data.slice(0, 10));
  await sessions.close(b.id);
  const idle = new IngestSessions(content, 50);
  try {
    const d = await idle.open("ns", "r", o);
    expect(d.exists || d.offset).toBe(10);
    await Bun.sleep(150);
    expect(idle.count()).toBe(0);
  } finally {
    await idle.dispose();
  }
  const c = await sessions.open("ns", "r", o);
  expect(c.exists || c.offset).toBe(10);
});

/** A fetcher over bytes, recording the offsets asked for. */
function fetcherOf(blobs: Map<string, Uint8Array>, asked: number[]): Fetcher {
  return {
    async *fetch(desc: Descriptor, o = {}) {
      const data = blobs.get(desc.digest)!;
      asked.push(o.offset ?? 0);
      for (let i = o.offset ?? 0; i < data.length; i += 7000) yield data.slice(i, i + 7000);
    },
    fetchBytes: async (desc) => blobs.get(desc.digest)!,
  };
}

test("fetchBlob streams into the store in 1 MiB writes, resumes an ingest, and finds a stored blob", async () => {
  const data = bytes(2.5 * 1024 * 1024, 7);
  const desc = { mediaType: MediaType.OciLayerGzip, digest: sha256(data), size: data.length };
  const asked: number[] = [];
  const c = {
    ns: "ns",
    fetcher: fetcherOf(new Map([[desc.digest, data]]), asked),
    ingest: sessions,
    tracker: new ProgressTracker("x", undefined),
    inflight: new Inflight(),
    signal: new AbortController().signal,
  };
  // Half of it is there from an interrupted pull.
  const half = await sessions.open("ns", refKey(desc), { total: desc.size, expected: desc.digest });
  if (half.exists) throw new Error("unexpected");
  await sessions.write(half.id, 0, data.slice(0, 1_000_000));
  await sessions.close(half.id);

  expect(await fetchBlob(c, desc)).toBe("fetched");
  expect(asked).toEqual([1_000_000]);
  const { path } = await content.blobPath("ns", desc.digest);
  expect(sha256(await Bun.file(path).bytes())).toBe(desc.digest);
  expect(await fetchBlob(c, desc)).toBe("exists");
  expect(asked).toEqual([1_000_000]);
});

test("concurrent fetches of one digest run once; the second finds the blob stored", async () => {
  const data = bytes(200_000, 3);
  const desc = { mediaType: MediaType.OciLayerGzip, digest: sha256(data), size: data.length };
  const asked: number[] = [];
  const inflight = new Inflight();
  const c = (ns: string) => ({
    ns,
    fetcher: fetcherOf(new Map([[desc.digest, data]]), asked),
    ingest: sessions,
    tracker: new ProgressTracker("x", undefined),
    inflight,
    signal: new AbortController().signal,
  });
  const results = await Promise.all([
    fetchBlob(c("ns"), desc),
    fetchBlob(c("ns"), desc),
    fetchBlob(c("other"), desc),
  ]);
  expect(results).toEqual(["fetched", "exists", "fetched"]);
  // The other namespace shares the blob without a download.
  expect(asked).toEqual([0]);
  expect(inflight.size).toBe(0);
});
