import { Leases } from "@bunkerd/proto/containerd/services/leases/v1/leases_pb.ts";
import { Snapshots } from "@bunkerd/proto/containerd/services/snapshots/v1/snapshots_pb.ts";
import { unmountAll } from "@bunkerd/snapshotters/mount";
import { defineCommand } from "citty";
import { resolve } from "node:path";
import { daemon } from "../../cli/client.ts";
import { isNotFound } from "../../cli/errors.ts";
import { need, snapshotterArgs, snapshotterOf } from "../../cli/flags.ts";
import { write } from "../../cli/output.ts";

export default defineCommand({
  meta: { name: "unmount", description: "unmount the image from the target" },
  args: {
    target: { type: "positional", required: false, description: "<target>" },
    ...snapshotterArgs,
    rm: { type: "boolean", description: "remove the snapshot after a successful unmount" },
  },
  async run({ args }) {
    const target = resolve(need(args.target, "please provide a target path to unmount from"));
    await unmountAll(target);
    if (args.rm) {
      const d = daemon();
      await d
        .client(Leases)
        .delete({ id: target, sync: false })
        .catch((e) => (isNotFound(e) ? undefined : Promise.reject(e)));
      await d
        .client(Snapshots)
        .remove({ snapshotter: snapshotterOf(args.snapshotter), key: target })
        .catch((e) => (isNotFound(e) ? undefined : Promise.reject(e)));
    }
    write(`${target}\n`);
  },
});
