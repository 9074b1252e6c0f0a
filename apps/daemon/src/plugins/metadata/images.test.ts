import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { knownSchemaVersion, openMetadata, read, schemaVersion, write } from "./db.ts";
import { embeddedMigrations } from "./migrations.ts";
import { createImage, getImage, imageFields } from "./images.ts";

// The image store's behaviour is tested through the Images service (services/images); here, what
// only the store shows: its schema upgrade and its filter fields.

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "bunkerd-images-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const D = `sha256:${"a".repeat(64)}`;

test("a database made before target annotations were kept upgrades, its images without any", () => {
  // The migrations as the first release shipped them: only the first.
  const old = embeddedMigrations().slice(0, 1);
  const path = join(dir, "meta.db");
  const before = openMetadata(path, { migrations: old });
  before.$client.run("INSERT INTO namespaces (name, created_at, updated_at) VALUES ('default', 0, 0)");
  before.$client.run(
    `INSERT INTO images (namespace, name, target_digest, target_media_type, target_size, created_at, updated_at)
     VALUES ('default', 'old', '${D}', 'm', 1, 0, 0)`,
  );
  before.$client.close();

  const db = openMetadata(path);
  expect(schemaVersion(db)).toBe(knownSchemaVersion());
  expect(read(db, (tx) => getImage(tx, "default", "old")).target).toEqual({
    mediaType: "m",
    digest: D,
    size: 1,
    annotations: {},
  });
  write(db, (tx) =>
    createImage(tx, "default", {
      name: "new",
      target: { mediaType: "m", digest: D, size: 1, annotations: { a: "1" } },
    }),
  );
  expect(read(db, (tx) => getImage(tx, "default", "new")).target.annotations).toEqual({ a: "1" });
  db.$client.close();
});

test("filter fields are containerd's adaptImage", () => {
  const fields = imageFields({
    name: "n",
    labels: { "a.b": "1" },
    target: { mediaType: "m", digest: D, size: 5, annotations: { "x.y/z": "2" } },
    createdAt: new Date(0),
    updatedAt: new Date(0),
  });
  expect(fields(["name"])).toBe("n");
  expect(fields(["target", "digest"])).toBe(D);
  expect(fields(["target", "mediatype"])).toBe("m");
  expect(fields(["target", "size"])).toBeUndefined();
  expect(fields(["target"])).toBeUndefined();
  expect(fields(["labels", "a", "b"])).toBe("1");
  expect(fields(["annotations", "x", "y/z"])).toBe("2");
  expect(fields(["createdat"])).toBeUndefined();
});
