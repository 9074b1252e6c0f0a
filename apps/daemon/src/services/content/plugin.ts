/** Content, in the content worker beside the blobs: io.containerd.content.v1.content (the local
 *  store, `<root>/io.containerd.content.v1.content`), io.containerd.service.v1.content-service
 *  (namespaced, with records kept by the metadata worker) and io.containerd.grpc.v1.content. */
import { definePlugin, PluginType } from "@bunkerd/plugin-api";
import { Content } from "@bunkerd/proto/containerd/services/content/v1/content_pb.ts";
import type { LocalStore } from "../../plugins/content/index.ts";
import type { ContentRecords } from "../../plugins/metadata/content-records.ts";
import type { NamespacedContent } from "./store.ts";

export const CONTENT_WORKER = PluginType.Content;

export const contentStore = definePlugin({
  type: PluginType.Content,
  id: "content",
  worker: CONTENT_WORKER,
  async init(ctx) {
    const { LocalStore } = await import("../../plugins/content/index.ts");
    ctx.exports.root = ctx.root;
    return LocalStore.open(ctx.root);
  },
});

export const contentService = definePlugin({
  type: PluginType.Service,
  id: "content-service",
  requires: [PluginType.Content, PluginType.Metadata, PluginType.Internal],
  worker: CONTENT_WORKER,
  async init(ctx) {
    const { NamespacedContent } = await import("./store.ts");
    const { metadataPath, openRecordsReader, withLocalReads } = await import("./records-reader.ts");
    const local = await ctx.get<LocalStore>(PluginType.Content, "content");
    const records = await ctx.get<ContentRecords>(PluginType.Internal, "content-records");
    // Reads on a connection of this worker's own: no round trip to the metadata worker.
    const reader = openRecordsReader(metadataPath(ctx.root));
    if (!reader) ctx.log.debug("content records read through the metadata worker");
    return new NamespacedContent(local, reader ? withLocalReads(records, reader.records) : records);
  },
});

export const contentGrpc = definePlugin({
  type: PluginType.GRPC,
  id: "content",
  requires: [PluginType.Service],
  worker: CONTENT_WORKER,
  async init(ctx) {
    const { contentService: handlers } = await import("./service.ts");
    const store = await ctx.get<NamespacedContent>(PluginType.Service, "content-service");
    ctx.registerService(Content, handlers(store, ctx.events));
  },
});

export default [contentStore, contentService, contentGrpc];
