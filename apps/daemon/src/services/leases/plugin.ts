/** Leases: io.containerd.service.v1.leases-service (the local implementation, beside the metadata
 *  store) and io.containerd.grpc.v1.leases (the API adapter), as containerd registers them.
 *  Every call needs a namespace; the server refuses one without it before a handler runs. */
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { definePlugin, PluginType } from "@bunkerd/plugin-api";
import { Leases } from "@bunkerd/proto/containerd/services/leases/v1/leases_pb.ts";
import type { MetadataDb } from "../../plugins/metadata/db.ts";
import { METADATA_WORKER } from "../../plugins/metadata/plugin.ts";
import { gcNotifier } from "../../plugins/metadata/gc-notify.ts";
import type { Lease, LeasesLocal } from "./local.ts";

export const leasesService = definePlugin({
  type: PluginType.Service,
  id: "leases-service",
  requires: [PluginType.Metadata],
  worker: METADATA_WORKER,
  async init(ctx) {
    const { LeasesLocal } = await import("./local.ts");
    const db = await ctx.get<MetadataDb>(PluginType.Metadata, "sqlite");
    return new LeasesLocal(db, gcNotifier(ctx));
  },
});

export const leasesGrpc = definePlugin({
  type: PluginType.GRPC,
  id: "leases",
  requires: [PluginType.Service],
  worker: METADATA_WORKER,
  async init(ctx) {
    const local = await ctx.get<LeasesLocal>(PluginType.Service, "leases-service");
    ctx.registerService(Leases, {
      async create(req, call) {
        return { lease: toProto(await local.create(call.namespace!, req.id, req.labels)) };
      },
      async delete(req, call) {
        await local.delete(call.namespace!, req.id, { sync: req.sync });
        return {};
      },
      async list(req, call) {
        return { leases: (await local.list(call.namespace!, req.filters)).map(toProto) };
      },
      async addResource(req, call) {
        await local.addResource(call.namespace!, req.id, resourceOf(req.resource));
        return {};
      },
      async deleteResource(req, call) {
        await local.deleteResource(call.namespace!, req.id, resourceOf(req.resource));
        return {};
      },
      async listResources(req, call) {
        return { resources: await local.listResources(call.namespace!, req.id) };
      },
    });
  },
});

const resourceOf = (r: { id: string; type: string } | undefined) => ({
  id: r?.id ?? "",
  type: r?.type ?? "",
});

const toProto = (lease: Lease) => ({
  id: lease.id,
  labels: lease.labels,
  createdAt: timestampFromDate(lease.createdAt),
});

export default [leasesService, leasesGrpc];
