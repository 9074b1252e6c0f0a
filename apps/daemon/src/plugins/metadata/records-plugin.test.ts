import { afterEach, expect, test } from "bun:test";
import { type InitContext, notFound, PluginType, uriOf } from "@bunkerd/plugin-api";
import { ContentRecords } from "./content-records.ts";
import { type MetadataDb, openMetadata } from "./db.ts";
import contentRecords from "./records-plugin.ts";
import { METADATA_WORKER } from "./plugin.ts";

let db: MetadataDb | undefined;
afterEach(() => db?.$client.close());

test("io.containerd.internal.v1.content-records runs in the metadata worker over its database", async () => {
  expect(uriOf(contentRecords)).toBe("io.containerd.internal.v1.content-records");
  expect([contentRecords.worker, contentRecords.requires]).toEqual([METADATA_WORKER, [PluginType.Metadata]]);
  const opened = openMetadata(":memory:");
  db = opened;
  const ctx = {
    async get(type: string, id?: string) {
      if (type === PluginType.Metadata && id === "sqlite") return opened;
      throw notFound(`plugin ${type}.${id}`);
    },
  } as unknown as InitContext;
  const records = await contentRecords.init(ctx);
  expect(records).toBeInstanceOf(ContentRecords);
  await (records as ContentRecords).commit("default", { digest: `sha256:${"1".repeat(64)}`, size: 1 });
  expect(await (records as ContentRecords).exists(`sha256:${"1".repeat(64)}`)).toBe(true);
});
