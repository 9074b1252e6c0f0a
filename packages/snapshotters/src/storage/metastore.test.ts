import { Database } from "bun:sqlite";
import { afterEach, beforeEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BunkerError } from "@bunkerd/plugin-api";
import { MetaStore } from "./metastore.ts";

let dir: string;
let ms: MetaStore;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "snapshot-metastore-"));
  ms = MetaStore.open(join(dir, "metadata.db"));
});
afterEach(() => {
  ms.close();
  rmSync(dir, { recursive: true, force: true });
});

const kindOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    return e instanceof BunkerError ? [e.kind, e.message] : ["?", String(e)];
  }
  return ["none"];
};

test("the file is 0600, as bolt makes it", () => {
  expect(statSync(join(dir, "metadata.db")).mode & 0o777).toBe(0o600);
});

test("ids are sequence numbers, never reused, kept through commit", () => {
  const a = ms.write((tx) => tx.createSnapshot("active", "a", undefined));
  expect(a).toEqual({ id: "1", kind: "active", parentIds: [] });
  ms.write((tx) => tx.createSnapshot("view", "b", undefined));
  ms.write((tx) => tx.remove("b"));
  // AUTOINCREMENT: the removed highest id is not handed out again.
  expect(ms.write((tx) => tx.createSnapshot("view", "b", undefined)).id).toBe("3");
  expect(ms.write((tx) => tx.commitActive("a", "c", { size: 4096, inodes: 1 }))).toBe("1");
  expect(ms.read((tx) => tx.getInfo("c"))).toMatchObject({ id: "1", usage: { size: 4096, inodes: 1 } });
  expect([...ms.read((tx) => tx.idMap())]).toEqual([
    ["1", "c"],
    ["3", "b"],
  ]);
});

test("parent chains: immediate parent first, base last", () => {
  let parent: string | undefined;
  for (let i = 1; i <= 4; i++) {
    ms.write((tx) => tx.createSnapshot("active", `a${i}`, parent));
    ms.write((tx) => tx.commitActive(`a${i}`, `c${i}`, { size: 0, inodes: 0 }));
    parent = `c${i}`;
  }
  expect(ms.write((tx) => tx.createSnapshot("view", "v", "c4")).parentIds).toEqual(["4", "3", "2", "1"]);
  expect(ms.read((tx) => tx.getSnapshot("v"))).toEqual({
    id: "5",
    kind: "view",
    parentIds: ["4", "3", "2", "1"],
  });
  expect(ms.read((tx) => tx.getInfo("c3").info.parent)).toBe("c2");
});

test("a failing write rolls back all of it", () => {
  expect(() =>
    ms.write((tx) => {
      tx.createSnapshot("active", "a", undefined);
      tx.createSnapshot("active", "a", undefined);
    }),
  ).toThrow("snapshot a: already exists");
  expect(ms.read((tx) => tx.walkInfo())).toEqual([]);
});

test("an async transaction callback is refused, and nothing it did before awaiting stays", async () => {
  expect(() =>
    ms.write((async (tx: Parameters<Parameters<MetaStore["write"]>[0]>[0]) => {
      tx.createSnapshot("active", "a", undefined);
      await Promise.resolve();
    }) as never),
  ).toThrow("must be synchronous");
  expect(ms.read((tx) => tx.walkInfo())).toEqual([]);
});

test("walk is in byte order of the names, as bolt iterates", () => {
  for (const k of ["b", "a", "B", "a/b", "é", "10", "9"])
    ms.write((tx) => tx.createSnapshot("view", k, undefined));
  expect(ms.read((tx) => tx.walkInfo().map((x) => x.info.name))).toEqual([
    "10",
    "9",
    "B",
    "a",
    "a/b",
    "b",
    "é",
  ]);
});

test("labels with empty values are not stored", () => {
  const info = ms.write((tx) => {
    tx.createSnapshot("active", "a", undefined, { x: "1", y: "" });
    return tx.getInfo("a").info;
  });
  expect(info.labels).toEqual({ x: "1" });
});

test("refusals in containerd's order: kind, parent, key", () => {
  ms.write((tx) => tx.createSnapshot("active", "a", undefined));
  expect(kindOf(() => ms.write((tx) => tx.createSnapshot("committed", "x", undefined)))).toEqual([
    "invalid argument",
    "snapshot type committed invalid; only snapshots of type Active or View can be created: invalid argument",
  ]);
  // The parent is checked before the key: an existing key on a bad parent is a parent error.
  expect(kindOf(() => ms.write((tx) => tx.createSnapshot("active", "a", "a")))).toEqual([
    "invalid argument",
    'parent "a" is not committed snapshot: invalid argument',
  ]);
  expect(kindOf(() => ms.write((tx) => tx.createSnapshot("active", "a", "nope")))).toEqual([
    "not found",
    'missing parent "nope" bucket: not found',
  ]);
  expect(kindOf(() => ms.write((tx) => tx.createSnapshot("active", "", undefined)))[0]).toBe(
    "invalid argument",
  );
  // Commit checks the name first, then the key.
  expect(kindOf(() => ms.write((tx) => tx.commitActive("nope", "a", { size: 0, inodes: 0 })))).toEqual([
    "already exists",
    "committed snapshot a: already exists",
  ]);
  expect(kindOf(() => ms.write((tx) => tx.commitActive("nope", "c", { size: 0, inodes: 0 })))).toEqual([
    "not found",
    'failed to get active snapshot "nope": not found',
  ]);
});

test("planSnapshot refuses as createSnapshot does and records nothing", () => {
  ms.write((tx) => tx.createSnapshot("active", "a", undefined));
  ms.write((tx) => tx.commitActive("a", "c", { size: 0, inodes: 0 }));
  expect(ms.read((tx) => tx.planSnapshot("active", "b", "c"))).toEqual({ parentIds: ["1"] });
  expect(kindOf(() => ms.read((tx) => tx.planSnapshot("active", "c", undefined)))[0]).toBe("already exists");
  expect(ms.read((tx) => tx.walkInfo()).length).toBe(1);
});

test("a newer schema is refused before anything is changed", () => {
  ms.close();
  const db = new Database(join(dir, "metadata.db"));
  db.run("PRAGMA user_version = 99");
  db.close();
  expect(() => MetaStore.open(join(dir, "metadata.db"))).toThrow("newer than this bunkerd's 1");
  ms = MetaStore.open(join(dir, "other.db"));
});

test("calls after close are Unavailable; close twice is fine", () => {
  ms.close();
  ms.close();
  expect(kindOf(() => ms.read((tx) => tx.walkInfo()))[0]).toBe("unavailable");
  ms = MetaStore.open(join(dir, "metadata.db"));
});
