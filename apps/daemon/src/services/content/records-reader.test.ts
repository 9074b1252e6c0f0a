import { afterEach, beforeEach, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BunkerError, Kind, PluginType } from "@bunkerd/plugin-api";
import { ContentRecords } from "../../plugins/metadata/content-records.ts";
import { type MetadataDb, openMetadata } from "../../plugins/metadata/db.ts";
import { metadataPath, openRecordsReader, withLocalReads } from "./records-reader.ts";

const D = `sha256:${"a".repeat(64)}`;
let dir: string;
let db: MetadataDb;
let writer: ContentRecords;
let path: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "records-reader-"));
  path = metadataPath(join(dir, `${PluginType.Content}.content`));
  mkdirSync(join(dir, `${PluginType.Metadata}.sqlite`));
  db = openMetadata(path);
  writer = new ContentRecords(db);
});
afterEach(() => {
  db.$client.close();
  rmSync(dir, { recursive: true, force: true });
});

test("the metadata database is found beside any plugin's root", () => {
  expect(metadataPath("/var/lib/bunkerd/io.containerd.content.v1.content")).toBe(
    "/var/lib/bunkerd/io.containerd.metadata.v1.sqlite/meta.db",
  );
});

test("a reader's own connection sees what the writer committed before each read", async () => {
  const reader = openRecordsReader(path)!;
  expect(reader).toBeDefined();
  try {
    const missing = await reader.records.info("ns", D).catch((e) => e);
    expect(missing).toBeInstanceOf(BunkerError);
    expect((missing as BunkerError).kind).toBe(Kind.NotFound);
    await writer.commit("ns", { digest: D, size: 5, labels: { a: "1" } });
    expect(await reader.records.info("ns", D)).toMatchObject({ digest: D, size: 5, labels: { a: "1" } });
    await writer.update("ns", { digest: D, labels: { a: "2", b: "x" } }, ["labels.a", "labels.b"]);
    expect((await reader.records.info("ns", D)).labels).toEqual({ a: "2", b: "x" });
    // Another namespace's blob is not this one's.
    expect(await reader.records.info("other", D).catch((e) => (e as BunkerError).kind)).toBe(Kind.NotFound);
    // Writes are refused on the reader's connection: the metadata worker stays the only writer.
    expect(
      await reader.records.update("ns", { digest: D, labels: { a: "3" } }, ["labels.a"]).catch((e) => e),
    ).toBeInstanceOf(Error);
  } finally {
    reader.close();
  }
});

test("no database: no reader (the proxy answers everything)", () => {
  expect(openRecordsReader(join(dir, "absent", "meta.db"))).toBeUndefined();
});

test("withLocalReads answers info locally and sends every other call to the proxy", async () => {
  const calls: string[] = [];
  const proxy = new Proxy({} as ContentRecords, {
    get: (_, key) => async () => void calls.push(`proxy.${String(key)}`),
  });
  const info = async () => {
    calls.push("local.info");
    return { digest: D };
  };
  const local = { info } as unknown as ContentRecords;
  const r = withLocalReads(proxy, local);
  await r.info("ns", D);
  await r.update("ns", { digest: D }, []);
  await r.commit("ns", { digest: D, size: 1 });
  await r.startIngest("ns", "ref");
  expect(calls).toEqual(["local.info", "proxy.update", "proxy.commit", "proxy.startIngest"]);
});
