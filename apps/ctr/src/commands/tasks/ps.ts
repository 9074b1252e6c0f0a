/** `bctr tasks ps CONTAINER`: PID and INFO (the runtime's details: an exec's id) per process. */
import { fromBinary } from "@bufbuild/protobuf";
import { Tasks } from "@bunkerd/proto/containerd/services/tasks/v1/tasks_pb.ts";
import { ProcessDetailsSchema } from "@bunkerd/proto/containerd/types/runc/options/oci_pb.ts";
import { defineCommand } from "citty";
import { daemon } from "../../cli/client.ts";
import { formatArgs, need } from "../../cli/flags.ts";
import { col, printList } from "../../cli/output.ts";

/** The INFO cell: Go ctr prints the decoded message with `%+v`, gogo's String() form. */
function infoCell(info: { typeUrl: string; value: Uint8Array } | undefined): string {
  if (!info) return "-";
  if (info.typeUrl.endsWith("containerd.runc.v1.ProcessDetails")) {
    const pd = fromBinary(ProcessDetailsSchema, info.value);
    return `&ProcessDetails{ExecID:${pd.execId},XXX_unrecognized:[],}`;
  }
  return info.typeUrl;
}

export default defineCommand({
  meta: { name: "ps", description: "list processes for container" },
  args: { container: { type: "positional", required: false, description: "CONTAINER" }, ...formatArgs },
  async run({ args }) {
    const id = need(args.container, "container id");
    const { processes } = await daemon().client(Tasks).listPids({ containerId: id });
    printList(processes, {
      columns: [
        col("PID", (p) => String(p.pid), { key: "pid", json: (p) => p.pid }),
        col("INFO", (p) => infoCell(p.info), {
          key: "info",
          json: (p) =>
            p.info?.typeUrl.endsWith("ProcessDetails")
              ? { exec_id: fromBinary(ProcessDetailsSchema, p.info.value).execId }
              : null,
        }),
      ],
      format: args.format,
      writer: { minwidth: 1, tabwidth: 8, padding: 4, padchar: " " },
      trailingTab: false,
    });
  },
});
