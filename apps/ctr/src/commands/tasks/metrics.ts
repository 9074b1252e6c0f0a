/** `bctr tasks metrics [--format table|json] CONTAINER`: one sample of the task's cgroup
 *  metrics, in the table or the JSON Go ctr prints. */
import { Tasks } from "@bunkerd/proto/containerd/services/tasks/v1/tasks_pb.ts";
import { defineCommand } from "citty";
import { daemon } from "../../cli/client.ts";
import { need } from "../../cli/flags.ts";
import { write } from "../../cli/output.ts";
import { formatTabs } from "../../cli/tabwriter.ts";
import { goTimeString } from "../containers/format.ts";
import { decodeMetrics, type MetricsObject, metricsJSON } from "./cgroup-metrics.ts";

const V1 = "io.containerd.cgroups.v1.Metrics";

const get = (o: MetricsObject | undefined, ...path: string[]): unknown =>
  path.reduce<unknown>((x, k) => (x as MetricsObject | undefined)?.[k], o);
const num = (v: unknown) => (v === undefined ? "0" : String(v));

export default defineCommand({
  meta: {
    name: "metrics",
    description: "get a single data point of metrics for a task with the built-in Linux runtime",
  },
  args: {
    container: { type: "positional", required: false, description: "CONTAINER" },
    format: { type: "string", description: '"table" or "json"', default: "table" },
  },
  async run({ args }) {
    const id = need(args.container, "container id");
    const format = args.format || "table";
    if (format !== "table" && format !== "json") throw new Error(`format must be table or json`);
    const { metrics } = await daemon()
      .client(Tasks)
      .metrics({ filters: [`id==${id}`] });
    if (metrics.length === 0) throw new Error("no metrics received");
    if (metrics.length > 1) throw new Error("multiple metrics received");
    const m = metrics[0]!;
    if (!m.data?.typeUrl.endsWith(V1)) {
      throw new Error("cannot convert metric data to cgroups.Metrics or windows.Statistics");
    }
    const data = decodeMetrics(m.data.value);
    if (format === "json") {
      write(`${metricsJSON(data)}\n`);
      return;
    }
    let text = `ID\tTIMESTAMP\t\n${m.id}\t${goTimeString(m.timestamp)}\t\n\nMETRIC\tVALUE\t\n`;
    const mem = data.memory as MetricsObject | undefined;
    if (mem) {
      text += `memory.usage_in_bytes\t${num(get(mem, "usage", "usage"))}\t\n`;
      text += `memory.limit_in_bytes\t${num(get(mem, "usage", "limit"))}\t\n`;
      text += `memory.stat.cache\t${num(mem.total_cache)}\t\n`;
    }
    const cpu = data.cpu as MetricsObject | undefined;
    if (cpu) {
      text += `cpuacct.usage\t${num(get(cpu, "usage", "total"))}\t\n`;
      text += `cpuacct.usage_percpu\t[${((get(cpu, "usage", "per_cpu") as bigint[] | undefined) ?? []).join(" ")}]\t\n`;
    }
    const pids = data.pids as MetricsObject | undefined;
    if (pids) {
      text += `pids.current\t${num(pids.current)}\t\n`;
      text += `pids.limit\t${num(pids.limit)}\t\n`;
    }
    write(formatTabs(text, { minwidth: 1, tabwidth: 8, padding: 4, padchar: " " }));
  },
});
