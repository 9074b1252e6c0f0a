/** The group's `--snapshotter` (default $CONTAINERD_SNAPSHOTTER, then overlayfs) and helpers
 *  the verbs share. */
import type { Mount } from "@bunkerd/proto/containerd/types/mount_pb.ts";
import { Kind, type Info } from "@bunkerd/proto/containerd/services/snapshots/v1/snapshots_pb.ts";
import { snapshotterOf } from "../../cli/flags.ts";
import { printJSON, write } from "../../cli/output.ts";
import { rfc3339, timestampRfc3339Nano } from "../../cli/units.ts";

export const state = { snapshotter: snapshotterOf(undefined) };

export const kindName = (k: Kind) =>
  k === Kind.ACTIVE ? "Active" : k === Kind.COMMITTED ? "Committed" : k === Kind.VIEW ? "View" : "Unknown";

/** snapshots.Info as Go marshals it (`info`, label output). */
export function infoJSON(i: Info) {
  return {
    Kind: kindName(i.kind),
    Name: i.name,
    ...(i.parent ? { Parent: i.parent } : {}),
    ...(Object.keys(i.labels).length ? { Labels: i.labels } : {}),
    Created: i.createdAt ? timestampRfc3339Nano(i.createdAt) : "0001-01-01T00:00:00Z",
    Updated: i.updatedAt ? timestampRfc3339Nano(i.updatedAt) : "0001-01-01T00:00:00Z",
  };
}

/** Mount commands as ctr prints them (`mount -t overlay overlay /target -o …`). */
export function printMounts(target: string, mounts: Mount[]) {
  for (const m of mounts) write(`mount -t ${m.type} ${m.source} ${target} -o ${m.options.join(",")}\n`);
}

/** `--mounts`: the mounts as Go marshals []mount.Mount. */
export function printMountsJSON(mounts: Mount[]) {
  printJSON(mounts.map((m) => ({ Type: m.type, Source: m.source, Options: m.options })));
}

/** What Go ctr labels snapshots it creates with, so the collector keeps them. */
export const gcRoot = () => ({ "containerd.io/gc.root": rfc3339(new Date()) });
