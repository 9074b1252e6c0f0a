/** `bctr tasks checkpoint [--exit] [--image-path P] [--work-path P] CONTAINER`, as Go ctr 1.6:
 *  pause the task, Tasks.Checkpoint with runc's CheckpointOptions, resume. The daemon's error
 *  is reported as it comes (without criu, runc's "criu not found"-style failure from the shim).
 *  On success the checkpoint descriptors and the container's image become an OCI index in the
 *  content store and an image `checkpoint-<id>-<time>` (printed), as Go's task.Checkpoint
 *  makes one; the container's read-write layer is not added (Go adds it as a diff). */
import { Containers } from "@bunkerd/proto/containerd/services/containers/v1/containers_pb.ts";
import { Images } from "@bunkerd/proto/containerd/services/images/v1/images_pb.ts";
import { Tasks } from "@bunkerd/proto/containerd/services/tasks/v1/tasks_pb.ts";
import { defineCommand } from "citty";
import { daemon } from "../../cli/client.ts";
import { about } from "../../cli/errors.ts";
import { need } from "../../cli/flags.ts";
import { writeContent } from "../../image/content.ts";

const INDEX_TYPE = "application/vnd.oci.image.index.v1+json";

/** containerd.runc.v1.CheckpointOptions: exit = 1, image_path = 8, work_path = 9. */
export function runcCheckpointOptions(o: { exit?: boolean; imagePath?: string; workPath?: string }) {
  const enc = new TextEncoder();
  const out: number[] = [];
  const varint = (n: number) => {
    while (n >= 0x80) {
      out.push((n & 0x7f) | 0x80);
      n >>>= 7;
    }
    out.push(n);
  };
  const str = (field: number, s: string | undefined) => {
    if (!s) return;
    const b = enc.encode(s);
    varint((field << 3) | 2);
    varint(b.length);
    out.push(...b);
  };
  if (o.exit) out.push(0x08, 0x01);
  str(8, o.imagePath);
  str(9, o.workPath);
  return { typeUrl: "containerd.runc.v1.CheckpointOptions", value: new Uint8Array(out) };
}

/** Go's checkpoint date format "01-02-2006-15:04:05". */
function checkpointTime(d = new Date()): string {
  const p = (n: number) => String(n).padStart(2, "0");
  return `${p(d.getMonth() + 1)}-${p(d.getDate())}-${d.getFullYear()}-${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

export default defineCommand({
  meta: { name: "checkpoint", description: "checkpoint a container" },
  args: {
    exit: { type: "boolean", description: "stop the container after the checkpoint" },
    "image-path": { type: "string", description: "path to criu image files" },
    "work-path": { type: "string", description: "path to criu work files and logs" },
    container: { type: "positional", required: false, description: "CONTAINER" },
  },
  async run({ args }) {
    const id = need(args.container, "container id");
    await daemon().withLease(async (d) => {
      const tasks = d.client(Tasks);
      const { container } = await about(`container "${id}"`, d.client(Containers).get({ id }));
      await tasks.pause({ containerId: id });
      let descriptors: Awaited<ReturnType<typeof tasks.checkpoint>>["descriptors"];
      try {
        ({ descriptors } = await tasks.checkpoint({
          containerId: id,
          parentCheckpoint: "",
          options: runcCheckpointOptions({
            exit: args.exit,
            imagePath: args["image-path"],
            workPath: args["work-path"],
          }),
        }));
      } finally {
        await tasks.resume({ containerId: id }).catch(() => {});
      }
      // With --image-path the checkpoint stays in that directory (Go ctr prints nothing).
      if (args["image-path"]) return;
      const manifests = descriptors.map((x) => ({
        mediaType: x.mediaType,
        digest: x.digest,
        size: Number(x.size),
      }));
      if (container?.image) {
        const { image } = await d.client(Images).get({ name: container.image });
        const t = image?.target;
        if (t) manifests.push({ mediaType: t.mediaType, digest: t.digest, size: Number(t.size) });
      }
      const index = new TextEncoder().encode(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: INDEX_TYPE,
          manifests,
          annotations: { "image.name": container?.image ?? "" },
        }),
      );
      const labels: Record<string, string> = {};
      manifests.forEach((m, i) => {
        labels[`containerd.io/gc.ref.content.${i}`] = m.digest;
      });
      const digest = await writeContent(d, index, { total: index.length, labels });
      const name = `checkpoint-${id}-${checkpointTime()}`;
      await d.client(Images).create({
        image: { name, target: { mediaType: INDEX_TYPE, digest, size: BigInt(index.length) } },
      });
      process.stdout.write(`${name}\n`);
    });
  },
});
