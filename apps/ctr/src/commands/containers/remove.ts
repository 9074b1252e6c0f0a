/** Deleting a container as Go ctr's containers.deleteContainer: a stopped or created task is
 *  deleted first, a running one refuses; then the snapshot (unless kept), then the record. */
import { Containers } from "@bunkerd/proto/containerd/services/containers/v1/containers_pb.ts";
import { Snapshots } from "@bunkerd/proto/containerd/services/snapshots/v1/snapshots_pb.ts";
import { Tasks } from "@bunkerd/proto/containerd/services/tasks/v1/tasks_pb.ts";
import { Status } from "@bunkerd/proto/containerd/types/task/task_pb.ts";
import type { Daemon } from "../../cli/client.ts";
import { isNotFound } from "../../cli/errors.ts";
import { deleteTask } from "../tasks/task.ts";

export async function removeContainer(
  d: Daemon,
  id: string,
  o: { keepSnapshot?: boolean } = {},
): Promise<void> {
  const { container } = await d.client(Containers).get({ id });
  let status: Status | undefined;
  try {
    const { process: p } = await d.client(Tasks).get({ containerId: id });
    status = p?.status ?? Status.UNKNOWN;
  } catch (e) {
    if (!isNotFound(e)) throw e;
  }
  if (status !== undefined) {
    if (status !== Status.STOPPED && status !== Status.CREATED) {
      const word = (Status[status] ?? "unknown").toLowerCase();
      throw new Error(`cannot delete a non stopped container: {${word} 0 0001-01-01 00:00:00 +0000 UTC}`);
    }
    await deleteTask(d, id);
  }
  if (!o.keepSnapshot && container?.snapshotKey) {
    if (!container.snapshotter) {
      throw new Error("container.Snapshotter must be set to cleanup rootfs snapshot: invalid argument");
    }
    try {
      await d.client(Snapshots).remove({ snapshotter: container.snapshotter, key: container.snapshotKey });
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
  }
  await d.client(Containers).delete({ id });
}
