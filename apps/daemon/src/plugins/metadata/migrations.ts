/** The committed drizzle migrations, embedded in the program (a compiled bunkerd has no
 *  migrations folder on disk). Each generated migration gets one import line here;
 *  migrations.test.ts fails when the journal names one that is missing. */
import journal from "./migrations/meta/_journal.json" with { type: "json" };
import m0000 from "./migrations/0000_init.sql" with { type: "text" };
import m0001 from "./migrations/0001_image_annotations.sql" with { type: "text" };
import m0002 from "./migrations/0002_snapshot_records.sql" with { type: "text" };

export const EMBEDDED_SQL: Record<string, string> = {
  "0000_init": m0000,
  "0001_image_annotations": m0001,
  "0002_snapshot_records": m0002,
};

export interface MigrationEntry {
  tag: string;
  when: number;
  breakpoints: boolean;
}

export const JOURNAL: MigrationEntry[] = journal.entries;

/** drizzle's migration records, as its file reader builds them (same hash, same split). */
export function embeddedMigrations() {
  return JOURNAL.map((e) => {
    const query = EMBEDDED_SQL[e.tag];
    if (query === undefined) throw new Error(`migration ${e.tag} is not embedded in migrations.ts`);
    return {
      sql: query.split("--> statement-breakpoint"),
      bps: e.breakpoints,
      folderMillis: e.when,
      hash: new Bun.CryptoHasher("sha256").update(query).digest("hex"),
    };
  });
}
