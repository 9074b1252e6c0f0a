/** Opens the metadata database: one SQLite file under `<root>/io.containerd.metadata.v1.<id>/`,
 *  in WAL mode, brought to the current schema by the committed drizzle migrations.
 *
 *  Every change runs in one transaction, through `write()`. Transaction callbacks must be
 *  synchronous: bun:sqlite commits when the callback returns, so an async callback would commit
 *  its first statements and run the rest outside the transaction (BUN-NOTES.md, SQLite). */
import { Database } from "bun:sqlite";
import { failedPrecondition } from "@bunkerd/plugin-api";
import { type BunSQLiteDatabase, drizzle } from "drizzle-orm/bun-sqlite";
import { embeddedMigrations, JOURNAL } from "./migrations.ts";
import * as schema from "./schema.ts";

export type MetadataDb = BunSQLiteDatabase<typeof schema> & { $client: Database };
/** The handle a transaction callback gets: the same query builder, inside the transaction. */
export type MetadataTx = Parameters<Parameters<MetadataDb["transaction"]>[0]>[0];

export type OpenOptions = {
  /** Migrations to apply instead of the embedded ones (tests). */
  migrations?: ReturnType<typeof embeddedMigrations>;
};

/** Opens (creating if need be) the database at `path`, or a private one for ":memory:",
 *  and applies the migrations it lacks. */
export function openMetadata(path: string, opts: OpenOptions = {}): MetadataDb {
  const migrations = opts.migrations ?? embeddedMigrations();
  const known = migrations.length;
  const client = new Database(path, { create: true, strict: true });
  try {
    // Refuse a newer schema before changing anything in the file (journal_mode is kept in it).
    const found = userVersion(client);
    if (found > known) {
      throw failedPrecondition(
        `metadata database ${path} has schema version ${found}, newer than this bunkerd's ${known}`,
      );
    }
    // Bringing the schema up to date runs with synchronous = NORMAL: about ten fsyncs fewer on a
    // new file (~10–60 ms of a fresh boot here). In WAL mode that cannot corrupt the file; a
    // power loss may only drop the migration's commit, and the next boot applies it again.
    // Every later commit is FULL, and its fsync of the WAL makes the schema durable too.
    client.run("PRAGMA busy_timeout = 5000");
    if (found !== known) client.run("PRAGMA synchronous = NORMAL");
    client.run("PRAGMA journal_mode = WAL");
    client.run("PRAGMA foreign_keys = ON");
    // drizzle compiles every query's SQL anew with prepare() (18 % of the metadata worker's CPU in
    // a pull's record calls); bun:sqlite's query() keeps one compiled statement per SQL text.
    // Safe here: drizzle never finalizes, and each use runs to completion synchronously.
    client.prepare = client.query.bind(client) as typeof client.prepare;
    const db = drizzle({ client, schema });
    if (found !== known) {
      // drizzle's own migrator, fed from the embedded files (it would read them from disk).
      // user_version = the number of migrations applied, so an up-to-date file skips it.
      (
        db as unknown as { dialect: { migrate(m: unknown, s: unknown, c: object): void }; session: unknown }
      ).dialect.migrate(migrations, (db as unknown as { session: unknown }).session, {});
      client.run(`PRAGMA user_version = ${known}`);
    }
    client.run("PRAGMA synchronous = FULL");
    return db;
  } catch (e) {
    client.close();
    throw e;
  }
}

/** The schema version recorded in the file: the number of migrations applied to it. */
export const schemaVersion = (db: MetadataDb): number => userVersion(db.$client);

/** The number of migrations this build ships. */
export const knownSchemaVersion = (): number => JOURNAL.length;

type NotPromise<T> = T extends PromiseLike<unknown> ? never : T;

/** Runs `fn` in one write transaction (BEGIN IMMEDIATE: the write lock is taken up front, so
 *  it never has to be upgraded): all of it commits, or, if it throws, none of it. */
export function write<T>(db: MetadataDb, fn: (tx: MetadataTx) => NotPromise<T>): T {
  return db.transaction((tx) => synchronous(fn(tx)), { behavior: "immediate" });
}

/** Runs `fn` in one read transaction: every query in it sees the same snapshot. */
export function read<T>(db: MetadataDb, fn: (tx: MetadataTx) => NotPromise<T>): T {
  return db.transaction((tx) => synchronous(fn(tx)), { behavior: "deferred" });
}

function synchronous<T>(out: T): T {
  if (out !== null && typeof (out as { then?: unknown })?.then === "function") {
    // Throwing rolls back what ran before the callback's first await; see the header.
    (out as PromiseLike<unknown>).then(undefined, () => {});
    throw new TypeError("metadata transaction callbacks must be synchronous");
  }
  return out;
}

function userVersion(client: Database): number {
  const row = client.query<{ user_version: number }, []>("PRAGMA user_version").get();
  return row?.user_version ?? 0;
}
