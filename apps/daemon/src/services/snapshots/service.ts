/** containerd.services.snapshots.v1.Snapshots: a thin adapter from the wire to the namespaced
 *  snapshotters (containerd's services/snapshots/service.go). Each request names its snapshotter;
 *  List streams in batches of 100. List answers its failures as Unknown with the message as is:
 *  containerd returns Walk's error without converting it to a status. */
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { type CallContext, Code, fromStatus, type ServiceHandlers, toBunkerError } from "@bunkerd/plugin-api";
import { Kind, type Snapshots } from "@bunkerd/proto/containerd/services/snapshots/v1/snapshots_pb.ts";
import type { Labels, Mount, Usage } from "./snapshotter.ts";
import type { SnapshotsService } from "./snapshotters.ts";
import type { Scope, SnapshotInfo } from "./store.ts";

const LIST_BATCH = 100;

const KINDS: Record<string, Kind> = { view: Kind.VIEW, active: Kind.ACTIVE, committed: Kind.COMMITTED };

const scope = (call: CallContext): Scope =>
  call.lease ? { namespace: call.namespace!, lease: call.lease } : { namespace: call.namespace! };

// containerd passes labels only when the request has some.
const labelsOf = (labels: Labels): { labels?: Labels } => (Object.keys(labels).length > 0 ? { labels } : {});

const mountOut = (m: Mount) => ({
  type: m.type,
  source: m.source,
  target: m.target ?? "",
  options: m.options,
});

const infoOut = (i: SnapshotInfo) => ({
  name: i.name,
  parent: i.parent ?? "",
  kind: KINDS[i.kind] ?? Kind.UNKNOWN,
  createdAt: timestampFromDate(i.created),
  updatedAt: timestampFromDate(i.updated),
  labels: i.labels,
});

const count = (n: number | bigint) => (typeof n === "bigint" ? n : BigInt(Math.trunc(n)));
const usageOut = (u: Usage) => ({ size: count(u.size), inodes: count(u.inodes) });

export function snapshotsService(svc: SnapshotsService): ServiceHandlers<typeof Snapshots> {
  return {
    async prepare(req, call) {
      const s = svc.get(req.snapshotter);
      return {
        mounts: (await s.prepare(scope(call), req.key, req.parent, labelsOf(req.labels))).map(mountOut),
      };
    },
    async view(req, call) {
      const s = svc.get(req.snapshotter);
      return { mounts: (await s.view(scope(call), req.key, req.parent, labelsOf(req.labels))).map(mountOut) };
    },
    async mounts(req, call) {
      return { mounts: (await svc.get(req.snapshotter).mounts(scope(call), req.key)).map(mountOut) };
    },
    async commit(req, call) {
      await svc.get(req.snapshotter).commit(scope(call), req.name, req.key, labelsOf(req.labels));
      return {};
    },
    async remove(req, call) {
      await svc.get(req.snapshotter).remove(scope(call), req.key);
      return {};
    },
    async stat(req, call) {
      return { info: infoOut(await svc.get(req.snapshotter).stat(scope(call), req.key)) };
    },
    async update(req, call) {
      const s = svc.get(req.snapshotter);
      const info = { name: req.info?.name ?? "", labels: req.info?.labels ?? {} };
      return { info: infoOut(await s.update(scope(call), info, req.updateMask?.paths ?? [])) };
    },
    async *list(req, call) {
      const s = svc.get(req.snapshotter);
      let batch: ReturnType<typeof infoOut>[] = [];
      const walk = s.walk(scope(call), req.filters)[Symbol.asyncIterator]();
      try {
        for (;;) {
          let next: IteratorResult<SnapshotInfo>;
          try {
            next = await walk.next();
          } catch (e) {
            throw fromStatus(Code.Unknown, toBunkerError(e).message);
          }
          if (next.done) break;
          batch.push(infoOut(next.value));
          if (batch.length >= LIST_BATCH) {
            yield { info: batch };
            batch = [];
          }
        }
        if (batch.length > 0) yield { info: batch };
      } finally {
        await walk.return?.(undefined);
      }
    },
    async usage(req, call) {
      return usageOut(await svc.get(req.snapshotter).usage(scope(call), req.key));
    },
    async cleanup(req) {
      await svc.get(req.snapshotter).cleanup();
      return {};
    },
  };
}
