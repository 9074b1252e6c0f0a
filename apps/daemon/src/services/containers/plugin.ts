/** Containers: io.containerd.service.v1.containers-service (the local implementation, beside the
 *  metadata store; the tasks service reads containers through it) and io.containerd.grpc.v1.containers
 *  (the API adapter), as containerd registers them. Every call needs a namespace; the server refuses
 *  one without it before a handler runs. */
import { definePlugin, PluginType } from "@bunkerd/plugin-api";
import { Containers } from "@bunkerd/proto/containerd/services/containers/v1/containers_pb.ts";
import type { MetadataDb } from "../../plugins/metadata/db.ts";
import { gcNotifier } from "../../plugins/metadata/gc-notify.ts";
import { METADATA_WORKER } from "../../plugins/metadata/plugin.ts";
import { fromProto, toProto } from "./convert.ts";
import type { ContainersLocal } from "./local.ts";

export const containersService = definePlugin({
  type: PluginType.Service,
  id: "containers-service",
  requires: [PluginType.Metadata],
  worker: METADATA_WORKER,
  async init(ctx) {
    const { ContainersLocal } = await import("./local.ts");
    const db = await ctx.get<MetadataDb>(PluginType.Metadata, "sqlite");
    return new ContainersLocal(
      db,
      (topic, namespace, ev) =>
        ctx.events.publish(namespace, topic, { typeUrl: ev.typeName, value: ev.bytes }),
      gcNotifier(ctx),
    );
  },
});

export const containersGrpc = definePlugin({
  type: PluginType.GRPC,
  id: "containers",
  requires: [PluginType.Service],
  worker: METADATA_WORKER,
  async init(ctx) {
    const local = await ctx.get<ContainersLocal>(PluginType.Service, "containers-service");
    ctx.registerService(Containers, {
      async get(req, call) {
        return { container: toProto(await local.get(call.namespace!, req.id)) };
      },
      async list(req, call) {
        return { containers: (await local.list(call.namespace!, req.filters)).map(toProto) };
      },
      // One container per message, as containerd streams them; the query runs before the first.
      async *listStream(req, call) {
        for (const c of await local.list(call.namespace!, req.filters)) yield { container: toProto(c) };
      },
      async create(req, call) {
        return { container: toProto(await local.create(call.namespace!, fromProto(req.container))) };
      },
      async update(req, call) {
        const paths = req.updateMask?.paths ?? [];
        return { container: toProto(await local.update(call.namespace!, fromProto(req.container), paths)) };
      },
      async delete(req, call) {
        await local.delete(call.namespace!, req.id);
        return {};
      },
    });
  },
});

export default [containersService, containersGrpc];
