/** `bctr images mount <ref> <target>`: unpacks the image if needed, then mounts a view (or an
 *  active snapshot with --rw) keyed by the target path, held by a lease of the same name, as
 *  Go ctr does; `images unmount` undoes it. */
import { Images } from "@bunkerd/proto/containerd/services/images/v1/images_pb.ts";
import { Leases } from "@bunkerd/proto/containerd/services/leases/v1/leases_pb.ts";
import { Snapshots } from "@bunkerd/proto/containerd/services/snapshots/v1/snapshots_pb.ts";
import { platforms } from "@bunkerd/registry";
import { mountAll } from "@bunkerd/snapshotters/mount";
import { defineCommand } from "citty";
import { resolve } from "node:path";
import { daemon } from "../../cli/client.ts";
import { about, isAlreadyExists } from "../../cli/errors.ts";
import { need, snapshotterArgs, snapshotterOf } from "../../cli/flags.ts";
import { write } from "../../cli/output.ts";
import { rfc3339 } from "../../cli/units.ts";
import { unpackImage } from "../../image/unpack.ts";
import { imageChainId, toDescriptor } from "../../image/walk.ts";

export default defineCommand({
  meta: { name: "mount", description: "mount an image to a target path" },
  args: {
    ref: { type: "positional", required: false, description: "<ref>" },
    target: { type: "positional", required: false, description: "<target>" },
    ...snapshotterArgs,
    rw: { type: "boolean", description: "Enable write support on the mount" },
    platform: {
      type: "string",
      description: 'Mount the image for the specified platform (default: "linux/amd64")',
    },
  },
  async run({ args }) {
    const ref = need(args.ref, "please provide an image reference to mount");
    const target = resolve(need(args.target, "please provide a target path to mount to"));
    const snapshotter = snapshotterOf(args.snapshotter);
    const plain = daemon();
    const expire = rfc3339(new Date(Date.now() + 24 * 3600_000));
    await plain
      .client(Leases)
      .create({
        id: target,
        labels: {
          "containerd.io/gc.expire": expire,
          [`containerd.io/gc.ref.snapshot.${snapshotter}`]: target,
        },
      })
      .catch((e) => (isAlreadyExists(e) ? undefined : Promise.reject(e)));
    const d = daemon({ lease: target });
    const { image } = await about(`image "${ref}"`, d.client(Images).get({ name: ref }));
    const matcher = platforms.only(args.platform ? platforms.parse(args.platform) : platforms.defaultSpec());
    const { chainId, manifest, config } = await imageChainId(d, toDescriptor(image!.target!), matcher);
    await unpackImage(d, manifest, config, { snapshotter });
    const snapshots = d.client(Snapshots);
    let mounts: Awaited<ReturnType<typeof snapshots.view>>["mounts"];
    try {
      const req = { snapshotter, key: target, parent: chainId, labels: {} };
      ({ mounts } = await (args.rw ? snapshots.prepare(req) : snapshots.view(req)));
    } catch (e) {
      if (!isAlreadyExists(e)) throw e;
      ({ mounts } = await snapshots.mounts({ snapshotter, key: target }));
    }
    await mountAll(
      mounts.map((m) => ({ type: m.type, source: m.source, options: m.options, target: "" })),
      target,
    );
    write(`${target}\n`);
  },
});
