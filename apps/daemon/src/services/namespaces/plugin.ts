/** Namespaces: io.containerd.service.v1.namespaces-service (the local implementation, beside
 *  the metadata store) and io.containerd.grpc.v1.namespaces (the API adapter), as containerd
 *  registers them. Namespaces calls do not need a namespace header. */
import { definePlugin, PluginType } from "@bunkerd/plugin-api";
import { Namespaces } from "@bunkerd/proto/containerd/services/namespaces/v1/namespaces_pb.ts";
import { METADATA_WORKER } from "../../plugins/metadata/plugin.ts";
import type { MetadataDb } from "../../plugins/metadata/db.ts";
import type { NamespacesLocal } from "./local.ts";

export const namespacesService = definePlugin({
  type: PluginType.Service,
  id: "namespaces-service",
  requires: [PluginType.Metadata],
  worker: METADATA_WORKER,
  async init(ctx) {
    const { NamespacesLocal } = await import("./local.ts");
    const db = await ctx.get<MetadataDb>(PluginType.Metadata, "sqlite");
    return new NamespacesLocal(db, (topic, namespace, ev) =>
      ctx.events.publish(namespace, topic, { typeUrl: ev.typeName, value: ev.bytes }),
    );
  },
});

export const namespacesGrpc = definePlugin({
  type: PluginType.GRPC,
  id: "namespaces",
  requires: [PluginType.Service],
  worker: METADATA_WORKER,
  async init(ctx) {
    const local = await ctx.get<NamespacesLocal>(PluginType.Service, "namespaces-service");
    ctx.registerService(
      Namespaces,
      {
        async get(req) {
          return { namespace: await local.get(req.name) };
        },
        async list() {
          return { namespaces: await local.list() };
        },
        async create(req, call) {
          const ns = req.namespace;
          return {
            namespace: await local.create(ns?.name ?? "", ns?.labels ?? {}, { namespace: call.namespace }),
          };
        },
        async update(req, call) {
          const ns = req.namespace;
          await local.update(ns?.name ?? "", ns?.labels ?? {}, req.updateMask?.paths ?? [], {
            namespace: call.namespace,
          });
          // containerd answers Update with an empty namespace.
          return {};
        },
        async delete(req) {
          await local.delete(req.name);
          return {};
        },
      },
      { namespaced: false },
    );
  },
});

export default [namespacesService, namespacesGrpc];
