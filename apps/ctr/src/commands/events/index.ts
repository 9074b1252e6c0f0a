/** `bctr events`: streams the daemon's events (Events.Subscribe) as Go ctr prints them:
 *  `<time> <namespace> <topic> <event as JSON>`, or one JSON object per line with
 *  `--format json`. Runs until interrupted. */
import { createRegistry, fromBinary, toJson } from "@bufbuild/protobuf";
import { type Timestamp, timestampDate } from "@bufbuild/protobuf/wkt";
import { file_containerd_events_container } from "@bunkerd/proto/containerd/events/container_pb.ts";
import { file_containerd_events_content } from "@bunkerd/proto/containerd/events/content_pb.ts";
import { file_containerd_events_image } from "@bunkerd/proto/containerd/events/image_pb.ts";
import { file_containerd_events_namespace } from "@bunkerd/proto/containerd/events/namespace_pb.ts";
import { file_containerd_events_snapshot } from "@bunkerd/proto/containerd/events/snapshot_pb.ts";
import { file_containerd_events_task } from "@bunkerd/proto/containerd/events/task_pb.ts";
import { Events } from "@bunkerd/proto/containerd/services/events/v1/events_pb.ts";
import { defineCommand } from "citty";
import { daemon } from "../../cli/client.ts";
import { formatArgs } from "../../cli/flags.ts";
import { checkFormat, write } from "../../cli/output.ts";

const registry = createRegistry(
  file_containerd_events_container,
  file_containerd_events_content,
  file_containerd_events_image,
  file_containerd_events_namespace,
  file_containerd_events_snapshot,
  file_containerd_events_task,
);

/** Go's time.Time.String() in UTC: "2006-01-02 15:04:05.999999999 +0000 UTC". */
function goTime(t: Timestamp | undefined): string {
  if (!t) return "0001-01-01 00:00:00 +0000 UTC";
  const d = timestampDate(t);
  const base = d.toISOString().slice(0, 19).replace("T", " ");
  const frac = String(t.nanos).padStart(9, "0").replace(/0+$/, "");
  return `${base}${frac ? `.${frac}` : ""} +0000 UTC`;
}

function decode(typeUrl: string, value: Uint8Array): unknown {
  const name = typeUrl.slice(typeUrl.lastIndexOf("/") + 1);
  const schema = registry.getMessage(name);
  if (!schema) return undefined;
  return toJson(schema, fromBinary(schema, value), { useProtoFieldName: true, registry });
}

export default defineCommand({
  meta: { name: "events", description: "display containerd events" },
  args: { ...formatArgs },
  async run({ args }) {
    const json = checkFormat(args.format) === "json";
    const abort = new AbortController();
    process.once("SIGINT", () => abort.abort());
    process.once("SIGTERM", () => abort.abort());
    try {
      for await (const e of daemon()
        .client(Events)
        .subscribe({ filters: args._ }, { signal: abort.signal })) {
        const event = e.event ? decode(e.event.typeUrl, e.event.value) : undefined;
        if (json) {
          const timestamp = e.timestamp ? timestampDate(e.timestamp).toISOString() : null;
          write(
            `${JSON.stringify({ timestamp, namespace: e.namespace, topic: e.topic, event: event ?? null })}\n`,
          );
        } else {
          const body = event === undefined ? "" : ` ${JSON.stringify(event)}`;
          write(`${goTime(e.timestamp)} ${e.namespace} ${e.topic}${body}\n`);
        }
      }
    } catch (err) {
      if (!abort.signal.aborted) throw err;
    }
  },
});
