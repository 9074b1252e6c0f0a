/** io.containerd.grpc.v1.transfer, in the transfer worker beside the stream manager and the
 *  local transferrer, as containerd 1.7 registers it. */
import { definePlugin, PluginType } from "@bunkerd/plugin-api";
import { Transfer } from "@bunkerd/proto/containerd/services/transfer/v1/transfer_pb.ts";
import type { LocalTransfer } from "../../plugins/transfer/transfer.ts";
import type { StreamManager } from "../streaming/manager.ts";

const STREAMING_PLUGIN = "io.containerd.streaming.v1";

export const transferGrpc = definePlugin({
  type: PluginType.GRPC,
  id: "transfer",
  requires: [PluginType.Transfer, STREAMING_PLUGIN],
  worker: PluginType.Transfer,
  async init(ctx) {
    const { transferService } = await import("./service.ts");
    const local = await ctx.get<LocalTransfer>(PluginType.Transfer, "local");
    const streams = await ctx.get<StreamManager>(STREAMING_PLUGIN, "manager");
    ctx.registerService(Transfer, transferService(local, streams));
  },
});

export default transferGrpc;
