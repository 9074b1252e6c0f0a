/** The cgroup metrics a runc shim reports (`io.containerd.cgroups.v1.Metrics`, from
 *  containerd/cgroups stats/v1/metrics.proto), decoded by field number into the snake_case
 *  objects Go ctr prints with `--format json`. Only what the proto defines is read; zero values
 *  stay out, as gogo's `omitempty` leaves them out. */
import { BinaryReader, WireType } from "@bufbuild/protobuf/wire";

type FieldType = "u64" | "string" | `msg:${string}`;
type Schema = Record<number, [name: string, type: FieldType, repeated?: true]>;

const entry: Schema = { 1: ["limit", "u64"], 2: ["usage", "u64"], 3: ["max", "u64"], 4: ["failcnt", "u64"] };
const blkio: Schema = {
  1: ["op", "string"],
  2: ["device", "string"],
  3: ["major", "u64"],
  4: ["minor", "u64"],
  5: ["value", "u64"],
};
const memoryNames = [
  "cache",
  "rss",
  "rss_huge",
  "mapped_file",
  "dirty",
  "writeback",
  "pg_pg_in",
  "pg_pg_out",
  "pg_fault",
  "pg_maj_fault",
  "inactive_anon",
  "active_anon",
  "inactive_file",
  "active_file",
  "unevictable",
  "hierarchical_memory_limit",
  "hierarchical_swap_limit",
  "total_cache",
  "total_rss",
  "total_rss_huge",
  "total_mapped_file",
  "total_dirty",
  "total_writeback",
  "total_pg_pg_in",
  "total_pg_pg_out",
  "total_pg_fault",
  "total_pg_maj_fault",
  "total_inactive_anon",
  "total_active_anon",
  "total_inactive_file",
  "total_active_file",
  "total_unevictable",
];
const memory: Schema = Object.fromEntries(memoryNames.map((n, i) => [i + 1, [n, "u64"]]));
Object.assign(memory, {
  33: ["usage", "msg:entry"],
  34: ["swap", "msg:entry"],
  35: ["kernel", "msg:entry"],
  36: ["kernel_tcp", "msg:entry"],
});

const schemas: Record<string, Schema> = {
  metrics: {
    1: ["hugetlb", "msg:hugetlb", true],
    2: ["pids", "msg:pids"],
    3: ["cpu", "msg:cpu"],
    4: ["memory", "msg:memory"],
    5: ["blkio", "msg:blkio"],
    6: ["rdma", "msg:rdma"],
    7: ["network", "msg:network", true],
    8: ["cgroup_stats", "msg:cgroupStats"],
    9: ["memory_oom_control", "msg:oom"],
  },
  hugetlb: { 1: ["usage", "u64"], 2: ["max", "u64"], 3: ["failcnt", "u64"], 4: ["pagesize", "string"] },
  pids: { 1: ["current", "u64"], 2: ["limit", "u64"] },
  cpu: { 1: ["usage", "msg:cpuUsage"], 2: ["throttling", "msg:throttle"] },
  cpuUsage: { 1: ["total", "u64"], 2: ["kernel", "u64"], 3: ["user", "u64"], 4: ["per_cpu", "u64", true] },
  throttle: { 1: ["periods", "u64"], 2: ["throttled_periods", "u64"], 3: ["throttled_time", "u64"] },
  memory,
  entry,
  blkio: Object.fromEntries(
    [
      "io_service_bytes_recursive",
      "io_serviced_recursive",
      "io_queued_recursive",
      "io_service_time_recursive",
      "io_wait_time_recursive",
      "io_merged_recursive",
      "io_time_recursive",
      "sectors_recursive",
    ].map((n, i) => [i + 1, [n, "msg:blkioEntry", true]]),
  ),
  blkioEntry: blkio,
  rdma: {},
  network: {
    1: ["name", "string"],
    2: ["rx_bytes", "u64"],
    3: ["rx_packets", "u64"],
    4: ["rx_errors", "u64"],
    5: ["rx_dropped", "u64"],
    6: ["tx_bytes", "u64"],
    7: ["tx_packets", "u64"],
    8: ["tx_errors", "u64"],
    9: ["tx_dropped", "u64"],
  },
  cgroupStats: {
    1: ["nr_sleeping", "u64"],
    2: ["nr_running", "u64"],
    3: ["nr_stopped", "u64"],
    4: ["nr_uninterruptible", "u64"],
    5: ["nr_io_wait", "u64"],
  },
  oom: { 1: ["oom_kill_disable", "u64"], 2: ["under_oom", "u64"], 3: ["oom_kill", "u64"] },
};

export type MetricsObject = { [key: string]: bigint | string | MetricsObject | (bigint | MetricsObject)[] };

/** Decodes a message by its schema; fields come out in field-number order (Go's struct order). */
export function decodeMetrics(bytes: Uint8Array, schema = "metrics"): MetricsObject {
  const fields = schemas[schema]!;
  const r = new BinaryReader(bytes);
  const found: Record<number, unknown> = {};
  while (r.pos < r.len) {
    const [no, wire] = r.tag();
    const f = fields[no];
    if (!f) {
      r.skip(wire);
      continue;
    }
    const [, type, repeated] = f;
    let value: unknown;
    if (type === "u64") {
      if (repeated && wire === WireType.LengthDelimited) {
        const end = r.uint32() + r.pos;
        const list = (found[no] as bigint[] | undefined) ?? [];
        while (r.pos < end) list.push(BigInt(r.uint64()));
        found[no] = list;
        continue;
      }
      value = BigInt(r.uint64());
    } else if (type === "string") value = r.string();
    else value = decodeMetrics(r.bytes(), type.slice(4));
    if (repeated) {
      const list = (found[no] as unknown[] | undefined) ?? [];
      list.push(value);
      found[no] = list;
    } else found[no] = value;
  }
  const out: MetricsObject = {};
  for (const no of Object.keys(fields)
    .map(Number)
    .sort((a, b) => a - b)) {
    const v = found[no];
    if (v === undefined || v === 0n || v === "") continue;
    out[fields[no]![0]] = v as MetricsObject[string];
  }
  return out;
}

/** JSON with two-space indent and 64-bit integers written exactly. */
export function metricsJSON(v: unknown, indent = "", step = "  "): string {
  if (typeof v === "bigint") return v.toString();
  if (typeof v === "string") return JSON.stringify(v);
  if (Array.isArray(v)) {
    if (v.length === 0) return "[]";
    const inner = indent + step;
    return `[\n${v.map((x) => inner + metricsJSON(x, inner, step)).join(",\n")}\n${indent}]`;
  }
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o);
  if (keys.length === 0) return "{}";
  const inner = indent + step;
  return `{\n${keys.map((k) => `${inner}${JSON.stringify(k)}: ${metricsJSON(o[k], inner, step)}`).join(",\n")}\n${indent}}`;
}
