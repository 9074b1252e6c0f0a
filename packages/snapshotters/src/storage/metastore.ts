/** The metadata store of one snapshotter: containerd's snapshots/storage (metastore.go, bolt.go)
 *  on SQLite, in `<root>/metadata.db` beside the snapshots it describes.
 *
 *    snapshots(id) ─── parent ──▶ snapshots(id)      one row per snapshot
 *      id       sequence number, never reused: names the directory `<root>/snapshots/<id>`
 *      name     the key (active, view) or the name (committed); unique in the snapshotter
 *      kind     active | view | committed; only a committed snapshot is ever a parent
 *      labels   JSON object; a label set to "" is not stored
 *      created, updated   milliseconds since the epoch
 *      size, inodes       disk use, recorded when an active snapshot is committed
 *
 *  A parent is referenced by id, as bolt's parent index is; a committed snapshot is never renamed,
 *  so the parent's name never changes under its children. `PRAGMA user_version` is the schema
 *  version.
 *
 *  Transactions are synchronous callbacks (BUN-NOTES.md, SQLite): bun:sqlite commits when the
 *  callback returns, so an `await` inside one would run the rest outside the transaction. */
import { Database } from "bun:sqlite";
import { closeSync, openSync } from "node:fs";
import { failedPrecondition, unavailable } from "@bunkerd/plugin-api";
import { Transaction } from "./transaction.ts";

const SCHEMA_VERSION = 1;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS snapshots (
  id      INTEGER PRIMARY KEY AUTOINCREMENT,
  name    TEXT    NOT NULL UNIQUE,
  kind    TEXT    NOT NULL CHECK (kind IN ('active', 'view', 'committed')),
  parent  INTEGER REFERENCES snapshots(id),
  labels  TEXT    NOT NULL DEFAULT '{}',
  created INTEGER NOT NULL,
  updated INTEGER NOT NULL,
  size    INTEGER NOT NULL DEFAULT 0,
  inodes  INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX IF NOT EXISTS snapshots_parent ON snapshots(parent);
`;

type NotPromise<T> = T extends PromiseLike<unknown> ? never : T;

export class MetaStore {
  private closed = false;
  private readonly tx: Transaction;

  private constructor(
    readonly file: string,
    private readonly db: Database,
  ) {
    this.tx = new Transaction(db);
  }

  /** Opens (creating if need be, mode 0600 as bolt does) the store in `file`. */
  static open(file: string): MetaStore {
    closeSync(openSync(file, "a", 0o600));
    const db = new Database(file, { create: true, strict: true });
    try {
      const found = db.query<{ user_version: number }, []>("PRAGMA user_version").get()?.user_version ?? 0;
      if (found > SCHEMA_VERSION) {
        throw failedPrecondition(
          `snapshot metadata ${file} has schema version ${found}, newer than this bunkerd's ${SCHEMA_VERSION}`,
        );
      }
      db.run("PRAGMA journal_mode = WAL");
      db.run("PRAGMA synchronous = FULL");
      db.run("PRAGMA busy_timeout = 5000");
      db.run("PRAGMA foreign_keys = ON");
      db.transaction(() => {
        db.run(SCHEMA);
        db.run(`PRAGMA user_version = ${SCHEMA_VERSION}`);
      }).immediate();
      return new MetaStore(file, db);
    } catch (e) {
      db.close();
      throw e;
    }
  }

  /** Runs `fn` in a read transaction: every query in it sees the same state. */
  read<T>(fn: (tx: Transaction) => NotPromise<T>): T {
    this.check();
    return this.db.transaction(() => synchronous(fn(this.tx))).deferred();
  }

  /** Runs `fn` in a write transaction (the write lock taken up front): all of it or none of it. */
  write<T>(fn: (tx: Transaction) => NotPromise<T>): T {
    this.check();
    return this.db.transaction(() => synchronous(fn(this.tx))).immediate();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Closes the database; closing twice is fine. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.db.close();
  }

  private check() {
    // bolt answers "database not open" once closed.
    if (this.closed) throw unavailable(`snapshot metadata ${this.file}: database not open`);
  }
}

function synchronous<T>(out: T): T {
  if (out !== null && typeof (out as { then?: unknown })?.then === "function") {
    (out as PromiseLike<unknown>).then(undefined, () => {});
    throw new TypeError("snapshot metadata transaction callbacks must be synchronous");
  }
  return out;
}
