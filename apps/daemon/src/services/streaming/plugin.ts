/** Streaming, in the transfer worker beside its only user (services that find a stream by id
 *  must share the worker with the manager): io.containerd.streaming.v1.manager and
 *  io.containerd.grpc.v1.streaming, as containerd 1.7 registers them. */
import { definePlugin, PluginType } from "@bunkerd/plugin-api";
import { Streaming } from "@bunkerd/proto/containerd/services/streaming/v1/streaming_pb.ts";
import type { StreamManager } from "./manager.ts";

export const STREAMING_PLUGIN = "io.containerd.streaming.v1";
export const TRANSFER_WORKER = PluginType.Transfer;

export const streamManager = definePlugin({
  type: STREAMING_PLUGIN,
  id: "manager",
  worker: TRANSFER_WORKER,
  async init() {
    const { StreamManager } = await import("./manager.ts");
    return new StreamManager();
  },
});

export const streamingGrpc = definePlugin({
  type: PluginType.GRPC,
  id: "streaming",
  requires: [STREAMING_PLUGIN],
  worker: TRANSFER_WORKER,
  async init(ctx) {
    const { streamingService } = await import("./service.ts");
    const manager = await ctx.get<StreamManager>(STREAMING_PLUGIN, "manager");
    // containerd's Stream takes the namespace when there is one and works without.
    ctx.registerService(Streaming, streamingService(manager), { namespaced: false });
  },
});

export default [streamManager, streamingGrpc];
