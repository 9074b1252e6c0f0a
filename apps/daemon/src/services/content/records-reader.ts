/** Content records read in the content worker itself, on a read-only connection of its own to
 *  the metadata database: Info (asked by Content.Info and Read, by the differ for a layer's
 *  path, by the pull pipeline) is answered without a round trip to the metadata worker, which
 *  stays the only writer.
 *
 *  Consistent with the writes because SQLite's WAL lets another connection read every
 *  transaction committed before its read starts, and a record this worker reads was written
 *  (over the proxy) before the caller asked: each SELECT runs in a read transaction of its own
 *  (bun:sqlite resets a statement after `get`). Everything else goes to the proxy. */
import { Database } from "bun:sqlite";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { PluginType } from "@bunkerd/plugin-api";
import { drizzle } from "drizzle-orm/bun-sqlite";
import type { MetadataDb } from "../../plugins/metadata/db.ts";
import * as schema from "../../plugins/metadata/schema.ts";
import { ContentRecords } from "../../plugins/metadata/content-records.ts";
import type { Records } from "./store.ts";

/** `<root>/io.containerd.metadata.v1.sqlite/meta.db`, from the root of any plugin (each is a
 *  directory of the daemon's root). */
export function metadataPath(pluginRoot: string): string {
  return join(dirname(pluginRoot), `${PluginType.Metadata}.sqlite`, "meta.db");
}

/** A ContentRecords on a read-only connection, for its reads only; undefined when the database
 *  cannot be opened that way (then every call goes through the proxy, as before). */
export function openRecordsReader(path: string): { records: ContentRecords; close(): void } | undefined {
  if (!existsSync(path)) return undefined;
  let client: Database | undefined;
  try {
    client = new Database(path, { readonly: true, strict: true });
    client.run("PRAGMA busy_timeout = 5000");
    const db = drizzle({ client, schema }) as unknown as MetadataDb;
    const records = new ContentRecords(db);
    const c = client;
    return { records, close: () => c.close() };
  } catch {
    client?.close();
    return undefined;
  }
}

/** The records the namespaced store uses: `info` answered by `local`, the rest by `proxy`. */
export function withLocalReads(proxy: Records, local: Pick<ContentRecords, "info">): Records {
  return {
    info: (ns, digest) => local.info(ns, digest),
    list: (...a) => proxy.list(...a),
    has: (...a) => proxy.has(...a),
    update: (...a) => proxy.update(...a),
    delete: (...a) => proxy.delete(...a),
    commit: (...a) => proxy.commit(...a),
    startIngest: (...a) => proxy.startIngest(...a),
    ingest: (...a) => proxy.ingest(...a),
    listIngests: (...a) => proxy.listIngests(...a),
    endIngest: (...a) => proxy.endIngest(...a),
  };
}
