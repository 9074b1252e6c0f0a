import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { cpSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { BunkerError, Kind } from "@bunkerd/plugin-api";
import { eq } from "drizzle-orm";
import { knownSchemaVersion, type MetadataDb, openMetadata, read, schemaVersion, write } from "./db.ts";
import {
  containers,
  content,
  images,
  ingests,
  leaseResources,
  leases,
  namespaces,
  snapshots,
} from "./schema.ts";

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "bunkerd-metadata-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const pragma = (db: MetadataDb, name: string) =>
  Object.values(db.$client.query(`PRAGMA ${name}`).get() as Record<string, unknown>)[0];
const tables = (db: MetadataDb) =>
  (
    db.$client
      .query("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
      .all() as { name: string }[]
  ).map((r) => r.name);
const integrity = (db: MetadataDb) => db.$client.query("PRAGMA integrity_check").all();

describe("openMetadata", () => {
  test("a fresh file gets every table, the settings and the schema version; re-opening keeps them", () => {
    const path = join(dir, "fresh.db");
    const db = openMetadata(path);
    expect(tables(db)).toEqual([
      "__drizzle_migrations",
      "containers",
      "content",
      "images",
      "ingests",
      "lease_resources",
      "leases",
      "namespaces",
      "snapshot_sequences",
      "snapshots",
    ]);
    expect(pragma(db, "journal_mode")).toBe("wal");
    expect(pragma(db, "foreign_keys")).toBe(1);
    expect(pragma(db, "synchronous")).toBe(2); // FULL
    expect(pragma(db, "busy_timeout")).toBe(5000);
    expect(knownSchemaVersion()).toBeGreaterThan(0);
    expect(schemaVersion(db)).toBe(knownSchemaVersion());
    write(db, (tx) =>
      tx
        .insert(namespaces)
        .values({ name: "kept", labels: { a: "1" } })
        .run(),
    );
    db.$client.close();

    const again = openMetadata(path);
    expect(schemaVersion(again)).toBe(knownSchemaVersion());
    const applied = again.$client.query("SELECT count(*) AS n FROM __drizzle_migrations").get() as {
      n: number;
    };
    expect(applied.n).toBe(knownSchemaVersion()); // not applied twice
    expect(read(again, (tx) => tx.select().from(namespaces).all())).toMatchObject([
      { name: "kept", labels: { a: "1" } },
    ]);
    expect(integrity(again)).toEqual([{ integrity_check: "ok" }]);
    again.$client.close();
  });

  test(":memory: works the same (WAL is not available there)", () => {
    const db = openMetadata(":memory:");
    expect(tables(db)).toContain("namespaces");
    expect(pragma(db, "foreign_keys")).toBe(1);
    expect(schemaVersion(db)).toBe(knownSchemaVersion());
    db.$client.close();
  });

  test("a database from a newer bunkerd is refused, untouched", () => {
    const path = join(dir, "newer.db");
    const raw = new Database(path, { create: true });
    raw.run(`PRAGMA user_version = ${knownSchemaVersion() + 1}`);
    raw.close();
    let err: unknown;
    try {
      openMetadata(path);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(BunkerError);
    expect((err as BunkerError).kind).toBe(Kind.FailedPrecondition);
    const after = new Database(path);
    expect(after.query("SELECT count(*) AS n FROM sqlite_master").get()).toEqual({ n: 0 });
    expect(after.query("PRAGMA journal_mode").get()).toEqual({ journal_mode: "delete" });
    after.close();
  });
});

describe("transactions", () => {
  test("a transaction that throws leaves nothing behind", () => {
    const db = openMetadata(join(dir, "rollback.db"));
    expect(() =>
      write(db, (tx) => {
        tx.insert(namespaces).values({ name: "a" }).run();
        tx.insert(namespaces).values({ name: "b" }).run();
        throw new Error("boom");
      }),
    ).toThrow("boom");
    expect(read(db, (tx) => tx.select().from(namespaces).all())).toEqual([]);
    expect(integrity(db)).toEqual([{ integrity_check: "ok" }]);
    db.$client.close();
  });

  test("a constraint failure midway rolls back the statements before it", () => {
    const db = openMetadata(":memory:");
    expect(() =>
      write(db, (tx) => {
        tx.insert(namespaces).values({ name: "a" }).run();
        tx.insert(namespaces).values({ name: "a" }).run(); // primary key
      }),
    ).toThrow();
    expect(read(db, (tx) => tx.select().from(namespaces).all())).toEqual([]);
    db.$client.close();
  });

  test("an async callback is refused and what it wrote before its first await is rolled back", async () => {
    const db = openMetadata(":memory:");
    const fn = async (tx: Parameters<Parameters<typeof write>[1]>[0]) => {
      tx.insert(namespaces).values({ name: "early" }).run();
      await Promise.resolve();
    };
    // @ts-expect-error: the types refuse async callbacks too
    expect(() => write(db, fn)).toThrow("metadata transaction callbacks must be synchronous");
    await Bun.sleep(0);
    expect(read(db, (tx) => tx.select().from(namespaces).all())).toEqual([]);
    db.$client.close();
  });

  test("write returns what the callback returns", () => {
    const db = openMetadata(":memory:");
    const n = write(db, (tx) => {
      tx.insert(namespaces).values({ name: "x" }).run();
      return tx.select().from(namespaces).all().length;
    });
    expect(n).toBe(1);
    db.$client.close();
  });
});

describe("schema constraints", () => {
  const seed = (db: MetadataDb) =>
    write(db, (tx) => {
      tx.insert(namespaces).values({ name: "ns" }).run();
      tx.insert(leases).values({ namespace: "ns", id: "l1" }).run();
      tx.insert(leaseResources)
        .values({ namespace: "ns", lease: "l1", type: "content", id: "sha256:aa" })
        .run();
      tx.insert(ingests).values({ namespace: "ns", ref: "r1", backendRef: "ns-r1" }).run();
    });

  test("records need their namespace", () => {
    const db = openMetadata(":memory:");
    expect(() =>
      write(db, (tx) =>
        tx
          .insert(images)
          .values({ namespace: "nope", name: "i", targetDigest: "d", targetMediaType: "m", targetSize: 1 })
          .run(),
      ),
    ).toThrow(/FOREIGN KEY/);
    db.$client.close();
  });

  test("deleting a namespace row takes its leases, lease resources and ingests along", () => {
    const db = openMetadata(":memory:");
    seed(db);
    write(db, (tx) => tx.delete(namespaces).where(eq(namespaces.name, "ns")).run());
    expect(
      read(db, (tx) => [tx.select().from(leases).all(), tx.select().from(leaseResources).all()]),
    ).toEqual([[], []]);
    expect(read(db, (tx) => tx.select().from(ingests).all())).toEqual([]);
    db.$client.close();
  });

  test("images, containers, content and snapshots keep their namespace row alive", () => {
    const rows = [
      (ns: string) => ({
        table: images,
        row: { namespace: ns, name: "i", targetDigest: "d", targetMediaType: "m", targetSize: 1 },
      }),
      (ns: string) => ({
        table: containers,
        row: { namespace: ns, id: "c", runtimeName: "r", spec: Buffer.from([]) },
      }),
      (ns: string) => ({ table: content, row: { namespace: ns, digest: "sha256:aa", size: 1 } }),
      (ns: string) => ({
        table: snapshots,
        row: { namespace: ns, snapshotter: "overlayfs", key: "k", backendName: "1", kind: "active" as const },
      }),
    ];
    for (const make of rows) {
      const db = openMetadata(":memory:");
      const { table, row } = make("ns");
      write(db, (tx) => {
        tx.insert(namespaces).values({ name: "ns" }).run();
        // biome-ignore lint/suspicious/noExplicitAny: one loop over four tables
        tx.insert(table as any)
          .values(row)
          .run();
      });
      expect(() => write(db, (tx) => tx.delete(namespaces).where(eq(namespaces.name, "ns")).run())).toThrow(
        /FOREIGN KEY/,
      );
      db.$client.close();
    }
  });

  test("a snapshot with children cannot be removed; its parent must exist", () => {
    const db = openMetadata(":memory:");
    const snap = (key: string, parent: string | null) => ({
      namespace: "ns",
      snapshotter: "overlayfs",
      key,
      backendName: key,
      parent,
      kind: "committed" as const,
    });
    write(db, (tx) => {
      tx.insert(namespaces).values({ name: "ns" }).run();
      tx.insert(snapshots).values(snap("base", null)).run();
      tx.insert(snapshots).values(snap("child", "base")).run();
    });
    expect(() => write(db, (tx) => tx.insert(snapshots).values(snap("orphan", "missing")).run())).toThrow(
      /FOREIGN KEY/,
    );
    expect(() => write(db, (tx) => tx.delete(snapshots).where(eq(snapshots.key, "base")).run())).toThrow(
      /FOREIGN KEY/,
    );
    db.$client.close();
  });

  test("labels, extensions and blobs round-trip", () => {
    const db = openMetadata(":memory:");
    const spec = Buffer.from([0, 1, 2, 255]);
    write(db, (tx) => {
      tx.insert(namespaces).values({ name: "ns" }).run();
      tx.insert(containers)
        .values({
          namespace: "ns",
          id: "c",
          runtimeName: "io.containerd.runc.v2",
          spec,
          labels: { "a/b": "ü" },
          extensions: { ext: { typeUrl: "t", value: "AAE=" } },
        })
        .run();
    });
    const row = read(db, (tx) => tx.select().from(containers).get())!;
    expect(row.labels).toEqual({ "a/b": "ü" });
    expect(row.extensions).toEqual({ ext: { typeUrl: "t", value: "AAE=" } });
    expect(new Uint8Array(row.spec)).toEqual(new Uint8Array(spec));
    expect(row.runtimeOptions).toBeNull();
    expect(row.createdAt).toBeInstanceOf(Date);
    expect(integrity(db)).toEqual([{ integrity_check: "ok" }]);
    db.$client.close();
  });
});

const MIGRATIONS_FOLDER = join(import.meta.dir, "migrations");

test("the committed migrations match schema.ts (drizzle-kit generates nothing new)", () => {
  const out = join(dir, "drift");
  cpSync(MIGRATIONS_FOLDER, out, { recursive: true });
  // drizzle-kit runs here, to find the repo's drizzle-orm, and wants paths relative to here.
  const config = { dialect: "sqlite", schema: "schema.ts", out: relative(import.meta.dir, out) };
  const configFile = join(dir, "drizzle.drift.config.ts");
  writeFileSync(configFile, `export default ${JSON.stringify(config)};\n`);
  const run = Bun.spawnSync(["bunx", "drizzle-kit", "generate", "--config", configFile], {
    cwd: import.meta.dir,
    stdout: "pipe",
    stderr: "pipe",
  });
  expect(`${run.stdout.toString()}${run.stderr.toString()}`).toContain("No schema changes");
  expect(readdirSync(out).sort()).toEqual(readdirSync(MIGRATIONS_FOLDER).sort());
}, 60_000);
