/** The operations on the snapshot records, as containerd's storage package has them (bolt.go),
 *  with its checks, their order and its error wording. Only valid inside `MetaStore.read` or
 *  `MetaStore.write`: every method is synchronous and runs in the caller's transaction. */
import type { Database } from "bun:sqlite";
import { alreadyExists, failedPrecondition, invalidArgument, notFound } from "@bunkerd/plugin-api";
import type { SnapshotInfo, SnapshotKind, Usage } from "../snapshotter.ts";
import { compileFilters } from "./filters.ts";

/** An active snapshot or a view, as a driver needs it to build mounts (containerd's
 *  storage.Snapshot). `parentIds[0]` is the immediate parent, the last one the base layer. */
export interface StoredSnapshot {
  id: string;
  kind: SnapshotKind;
  parentIds: string[];
}

interface Row {
  id: number;
  name: string;
  kind: SnapshotKind;
  parent: number | null;
  parentName: string | null;
  labels: string;
  created: number;
  updated: number;
  size: number;
  inodes: number;
}

const SELECT = `SELECT s.id, s.name, s.kind, s.parent, p.name AS parentName, s.labels, s.created,
  s.updated, s.size, s.inodes FROM snapshots s LEFT JOIN snapshots p ON p.id = s.parent`;

/** Go's %q for the names containerd quotes in its messages. */
const q = (s: string) => JSON.stringify(s);

export class Transaction {
  constructor(private readonly db: Database) {}

  /** The id, info and recorded usage of a snapshot by key or name. */
  getInfo(key: string): { id: string; info: SnapshotInfo; usage: Usage } {
    const row = this.row(key);
    if (!row) throw notFound("snapshot does not exist");
    return { id: String(row.id), info: toInfo(row), usage: { size: row.size, inodes: row.inodes } };
  }

  /** Updates the labels of a snapshot (the only mutable field) and its `updated` time. */
  updateInfo(info: SnapshotInfo, fieldpaths: readonly string[] = []): SnapshotInfo {
    const row = this.row(info.name);
    if (!row) throw notFound("snapshot does not exist");
    const updated = toInfo(row);
    const given = info.labels ?? {};
    if (fieldpaths.length > 0) {
      for (const path of fieldpaths) {
        if (path.startsWith("labels.")) {
          const key = path.slice("labels.".length);
          updated.labels[key] = given[key] ?? "";
          continue;
        }
        if (path === "labels") {
          updated.labels = { ...given };
          continue;
        }
        throw invalidArgument(`cannot update ${q(path)} field on snapshot ${q(info.name)}`);
      }
    } else {
      updated.labels = { ...given };
    }
    updated.labels = dropEmpty(updated.labels);
    updated.updated = new Date();
    this.db
      .query("UPDATE snapshots SET labels = ?, updated = ? WHERE id = ?")
      .run(JSON.stringify(updated.labels), updated.updated.getTime(), row.id);
    return updated;
  }

  /** Every snapshot matching the filters, in name order, with its id. */
  walkInfo(filters: readonly string[] = []): { id: string; info: SnapshotInfo }[] {
    const match = compileFilters(filters);
    const out: { id: string; info: SnapshotInfo }[] = [];
    for (const row of this.db.query<Row, []>(`${SELECT} ORDER BY s.name`).all()) {
      const info = toInfo(row);
      if (match(info)) out.push({ id: String(row.id), info });
    }
    return out;
  }

  /** An active snapshot or a view with its parent chain, to build its mounts. */
  getSnapshot(key: string): StoredSnapshot {
    const row = this.row(key);
    if (!row) throw notFound("snapshot does not exist");
    if (row.kind !== "active" && row.kind !== "view") {
      throw failedPrecondition(`requested snapshot ${key} not active or view`);
    }
    return { id: String(row.id), kind: row.kind, parentIds: this.parents(row.parent) };
  }

  /** Records a new active snapshot or view on `parent`, which must be committed. */
  createSnapshot(
    kind: SnapshotKind,
    key: string,
    parent: string | undefined,
    labels: Record<string, string> = {},
  ): StoredSnapshot {
    const parentRow = this.checkCreate(kind, key, parent);
    const now = Date.now();
    const { lastInsertRowid } = this.db
      .query("INSERT INTO snapshots (name, kind, parent, labels, created, updated) VALUES (?, ?, ?, ?, ?, ?)")
      .run(key, kind, parentRow?.id ?? null, JSON.stringify(dropEmpty(labels)), now, now);
    return { id: String(lastInsertRowid), kind, parentIds: parentRow ? this.parents(parentRow.id) : [] };
  }

  /** What `createSnapshot` would refuse, refused the same way, without recording anything:
   *  the parent chain the snapshot would get. A driver that must copy the parent before
   *  recording the snapshot (native) asks this first. */
  planSnapshot(kind: SnapshotKind, key: string, parent: string | undefined): { parentIds: string[] } {
    const parentRow = this.checkCreate(kind, key, parent);
    return { parentIds: parentRow ? this.parents(parentRow.id) : [] };
  }

  /** Removes a snapshot's record; refused while it has children. Returns its id and kind. */
  remove(key: string): { id: string; kind: SnapshotKind } {
    const row = this.row(key);
    if (!row) throw notFound(`snapshot ${key}`);
    if (this.db.query("SELECT 1 FROM snapshots WHERE parent = ? LIMIT 1").get(row.id)) {
      throw failedPrecondition("cannot remove snapshot with child");
    }
    this.db.query("DELETE FROM snapshots WHERE id = ?").run(row.id);
    return { id: String(row.id), kind: row.kind };
  }

  /** Renames the active snapshot `key` to the committed snapshot `name`, keeping its id and
   *  parent. Labels are replaced, not inherited; created and updated are now. */
  commitActive(key: string, name: string, usage: Usage, labels: Record<string, string> = {}): string {
    if (name === "") throw invalidArgument("snapshot name must not be empty");
    if (this.row(name)) throw alreadyExists(`committed snapshot ${name}`);
    const row = this.row(key);
    if (!row) throw notFound(`failed to get active snapshot ${q(key)}`);
    if (row.kind !== "active") throw failedPrecondition(`snapshot ${q(key)} is not active`);
    const now = Date.now();
    this.db
      .query(
        `UPDATE snapshots SET name = ?, kind = 'committed', labels = ?, created = ?, updated = ?,
         size = ?, inodes = ? WHERE id = ?`,
      )
      .run(name, JSON.stringify(dropEmpty(labels)), now, now, usage.size, usage.inodes, row.id);
    return String(row.id);
  }

  /** Every snapshot id, mapped to its key or name. */
  idMap(): Map<string, string> {
    const rows = this.db
      .query<{ id: number; name: string }, []>("SELECT id, name FROM snapshots ORDER BY id")
      .all();
    return new Map(rows.map((r) => [String(r.id), r.name]));
  }

  /** containerd's checks, in its order: the kind, the parent (present, committed), the key. */
  private checkCreate(kind: SnapshotKind, key: string, parent: string | undefined): Row | undefined {
    if (kind !== "active" && kind !== "view") {
      throw invalidArgument(
        `snapshot type ${kind} invalid; only snapshots of type Active or View can be created`,
      );
    }
    let parentRow: Row | undefined;
    if (parent) {
      parentRow = this.row(parent);
      if (!parentRow) throw notFound(`missing parent ${q(parent)} bucket`);
      if (parentRow.kind !== "committed") {
        throw invalidArgument(`parent ${q(parent)} is not committed snapshot`);
      }
    }
    // bolt refuses an empty bucket name.
    if (key === "") throw invalidArgument("snapshot key must not be empty");
    if (this.row(key)) throw alreadyExists(`snapshot ${key}`);
    return parentRow;
  }

  private row(name: string): Row | undefined {
    return this.db.query<Row, [string]>(`${SELECT} WHERE s.name = ?`).get(name) ?? undefined;
  }

  /** The ids from `id` down to the base layer. */
  private parents(id: number | null): string[] {
    if (id === null) return [];
    const rows = this.db
      .query<{ id: number }, [number]>(
        `WITH RECURSIVE chain(id, parent, depth) AS (
           SELECT id, parent, 0 FROM snapshots WHERE id = ?
           UNION ALL SELECT s.id, s.parent, c.depth + 1 FROM snapshots s JOIN chain c ON s.id = c.parent
         ) SELECT id FROM chain ORDER BY depth`,
      )
      .all(id);
    return rows.map((r) => String(r.id));
  }
}

function toInfo(row: Row): SnapshotInfo {
  const info: SnapshotInfo = {
    name: row.name,
    kind: row.kind,
    labels: JSON.parse(row.labels) as Record<string, string>,
    created: new Date(row.created),
    updated: new Date(row.updated),
  };
  if (row.parentName !== null) info.parent = row.parentName;
  return info;
}

/** bolt does not store a label whose value is empty: setting one to "" removes it. */
function dropEmpty(labels: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(labels)) if (v !== "" && v !== undefined && v !== null) out[k] = v;
  return out;
}
