/** drizzle-kit's view of the metadata schema. Paths are relative to the repo root; run
 *    bunx drizzle-kit generate --config apps/daemon/src/plugins/metadata/drizzle.config.ts
 *  from there after changing schema.ts, and commit what it writes to migrations/. */
import { defineConfig } from "drizzle-kit";

export default defineConfig({
  dialect: "sqlite",
  schema: "./apps/daemon/src/plugins/metadata/schema.ts",
  out: "./apps/daemon/src/plugins/metadata/migrations",
});
