/** Snapshots, in the snapshotter worker beside the backends: io.containerd.service.v1.snapshots-service
 *  (every backend snapshotter that loaded, namespaced, with records kept by the metadata worker)
 *  and io.containerd.grpc.v1.snapshots (the API adapter), as containerd registers them. */
import { definePlugin, Kind, PluginType, toBunkerError } from "@bunkerd/plugin-api";
import { Snapshots } from "@bunkerd/proto/containerd/services/snapshots/v1/snapshots_pb.ts";
import type { SnapshotsService } from "./snapshotters.ts";
import type { Snapshotter } from "./snapshotter.ts";
import type { Records } from "./store.ts";

export const SNAPSHOTTER_WORKER = PluginType.Snapshotter;

/** The io.containerd.snapshotter.v1 plugins the service looks for; one that is absent, skipped or
 *  failed is left out, as containerd leaves out what did not load. */
export const SNAPSHOTTERS = ["overlayfs", "native"] as const;

export const snapshotsService = definePlugin({
  type: PluginType.Service,
  id: "snapshots-service",
  requires: [PluginType.Snapshotter, PluginType.Metadata, PluginType.Internal],
  worker: SNAPSHOTTER_WORKER,
  async init(ctx) {
    const { NamespacedSnapshotter } = await import("./store.ts");
    const { SnapshotsService } = await import("./snapshotters.ts");
    const records = await ctx.get<Records>(PluginType.Internal, "snapshot-records");
    const found = [];
    for (const id of SNAPSHOTTERS) {
      let backend: Snapshotter;
      try {
        backend = await ctx.get<Snapshotter>(PluginType.Snapshotter, id);
      } catch (e) {
        const err = toBunkerError(e);
        if (err.kind === Kind.NotFound) ctx.log.debug("snapshotter not loaded", { id, error: err.message });
        else ctx.log.warn("snapshotter unavailable", { id, error: err.message });
        continue;
      }
      found.push(new NamespacedSnapshotter(id, backend, records, ctx.events, ctx.log));
    }
    const service = new SnapshotsService(found);
    await service.recover(ctx.log);
    return service;
  },
});

export const snapshotsGrpc = definePlugin({
  type: PluginType.GRPC,
  id: "snapshots",
  requires: [PluginType.Service],
  worker: SNAPSHOTTER_WORKER,
  async init(ctx) {
    const { snapshotsService: handlers } = await import("./service.ts");
    const service = await ctx.get<SnapshotsService>(PluginType.Service, "snapshots-service");
    ctx.registerService(Snapshots, handlers(service));
  },
});

export default [snapshotsService, snapshotsGrpc];
