/** io.containerd.grpc.v1.diff, in the differ worker beside io.containerd.differ.v1.walking.
 *  (containerd also has io.containerd.service.v1.diff-service choosing among differs; with one
 *  differ the adapter calls it directly.) */
import { dirname } from "node:path";
import { definePlugin, PluginType } from "@bunkerd/plugin-api";
import { Diff } from "@bunkerd/proto/containerd/services/diff/v1/diff_pb.ts";
import type { NamespacedContent } from "../content/store.ts";
import type { Differ } from "./service.ts";

export const DIFFER_WORKER = PluginType.Differ;

export const diffGrpc = definePlugin({
  type: PluginType.GRPC,
  id: "diff",
  requires: [PluginType.Differ, PluginType.Service],
  worker: DIFFER_WORKER,
  async init(ctx) {
    const { diffService } = await import("./service.ts");
    const differ = await ctx.get<Differ>(PluginType.Differ, "walking");
    const content = await ctx.get<NamespacedContent>(PluginType.Service, "content-service");
    // ctx.root is <root>/io.containerd.grpc.v1.diff: the daemon's root is its parent.
    ctx.registerService(Diff, diffService(differ, content, dirname(ctx.root)));
  },
});

export default diffGrpc;
