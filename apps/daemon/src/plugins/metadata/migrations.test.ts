import { expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { readMigrationFiles } from "drizzle-orm/migrator";
import { EMBEDDED_SQL, embeddedMigrations, JOURNAL } from "./migrations.ts";

const folder = join(import.meta.dir, "migrations");

test("every migration in the folder is embedded, byte for byte", () => {
  const files = readdirSync(folder).filter((f) => f.endsWith(".sql"));
  expect(Object.keys(EMBEDDED_SQL).sort()).toEqual(files.map((f) => f.slice(0, -4)).sort());
  for (const f of files) expect(EMBEDDED_SQL[f.slice(0, -4)]).toBe(readFileSync(join(folder, f), "utf8"));
  expect(JOURNAL.length).toBe(files.length);
});

test("embedded migrations equal what drizzle reads from the folder (same hashes)", () => {
  expect(embeddedMigrations()).toEqual(readMigrationFiles({ migrationsFolder: folder }));
});
