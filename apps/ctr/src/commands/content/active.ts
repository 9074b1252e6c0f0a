import { timestampDate } from "@bufbuild/protobuf/wkt";
import { Content, type Status } from "@bunkerd/proto/containerd/services/content/v1/content_pb.ts";
import { defineCommand } from "citty";
import { daemon } from "../../cli/client.ts";
import { formatArgs } from "../../cli/flags.ts";
import { col, printList } from "../../cli/output.ts";
import { TABS } from "../../cli/tabwriter.ts";
import { humanDuration, humanSize } from "../../cli/units.ts";

export default defineCommand({
  meta: { name: "active", description: "display active transfers" },
  args: {
    regexp: { type: "positional", required: false, description: "[<regexp>]" },
    timeout: {
      type: "string",
      alias: "t",
      description: "total timeout for fetch [$CONTAINERD_FETCH_TIMEOUT]",
    },
    root: { type: "string", description: "path to content store root" },
    ...formatArgs,
  },
  async run({ args }) {
    const filters = args.regexp ? [`ref~=${args.regexp}`] : [];
    const { statuses } = await daemon().client(Content).listStatuses({ filters });
    const now = Date.now();
    const started = (s: Status) => (s.startedAt ? timestampDate(s.startedAt).getTime() : now);
    printList(statuses, {
      columns: [
        col("REF", (s) => s.ref),
        col("SIZE", (s) => humanSize(Number(s.offset)), { json: (s) => Number(s.offset) }),
        col("AGE", (s) => humanDuration(now - started(s)), {
          json: (s) => new Date(started(s)).toISOString(),
        }),
        ...(args.format === "json"
          ? [
              col("TOTAL", () => "", { json: (s: Status) => Number(s.total) }),
              col("EXPECTED", () => "", { json: (s: Status) => s.expected }),
            ]
          : []),
      ],
      format: args.format,
      writer: TABS,
      trailingTab: "header",
    });
  },
});
