/** containerd.services.version.v1.Version: the daemon's version and revision. */
import { definePlugin, PluginType } from "@bunkerd/plugin-api";
import { Version } from "@bunkerd/proto/containerd/services/version/v1/version_pb.ts";
import type { HostApi } from "../../host/api.ts";

export const versionPlugin = (host: HostApi) =>
  definePlugin({
    type: PluginType.GRPC,
    id: "version",
    init(ctx) {
      const reply = { version: host.version.version, revision: host.version.revision };
      ctx.registerService(Version, { version: () => reply }, { namespaced: false });
    },
  });
