/** Task.Stats: a container's cgroup metrics as containerd's runc shim reports them, wrapped for an
 *  Any: cgroup v1 → io.containerd.cgroups.v1.Metrics, v2 → io.containerd.cgroups.v2.Metrics
 *  (ctr picks the decoder by that type URL). Files follow containerd/cgroups' collectors; a
 *  controller or file the kernel does not offer is left out, as containerd's IgnoreNotExist does.
 *  Counters are read as bigint: limits such as 9223372036854771712 do not fit a double. */
import { create, type DescMessage, type MessageShape, toBinary } from "@bufbuild/protobuf";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import {
  type BlkIOEntry,
  BlkIOEntrySchema,
  BlkIOStatSchema,
  CPUStatSchema,
  type HugetlbStat,
  HugetlbStatSchema,
  MemoryStatSchema,
  type Metrics as MetricsV1,
  MetricsSchema as MetricsV1Schema,
  RdmaEntrySchema,
} from "@bunkerd/proto/io/containerd/cgroups/v1/metrics_pb.ts";
import {
  HugeTlbStatSchema,
  IOEntrySchema,
  type Metrics as MetricsV2,
  MetricsSchema as MetricsV2Schema,
  RdmaEntrySchema as RdmaEntryV2Schema,
} from "@bunkerd/proto/io/containerd/cgroups/v2/metrics_pb.ts";
import { cgroupPaths } from "./cgroup-paths.ts";

export type AnyMetrics = { typeUrl: string; value: Uint8Array };

/** The metrics of pid's cgroup (the container's init), ready for StatsResponse.stats. */
export async function readStats(pid: number): Promise<AnyMetrics> {
  const cg = cgroupPaths(pid);
  if (cg.version === 1) {
    const m = await readMetricsV1(cg.dirs);
    return { typeUrl: MetricsV1Schema.typeName, value: toBinary(MetricsV1Schema, m) };
  }
  const m = await readMetricsV2(cg.dir);
  return { typeUrl: MetricsV2Schema.typeName, value: toBinary(MetricsV2Schema, m) };
}

const MAX_U64 = 0xffff_ffff_ffff_ffffn;
// cpuacct.stat counts USER_HZ ticks, which Linux fixes at 100 for user space.
const NS_PER_TICK = 10_000_000n;

/** File contents, or undefined when the file (or the cgroup) is not there. */
async function read(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, "utf8");
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === "ENOENT" || code === "ENODEV" || code === "ENOTSUP" || code === "EOPNOTSUPP")
      return undefined;
    throw e;
  }
}

function parseU64(text: string, path: string, max = MAX_U64): bigint {
  const t = text.trim();
  if (t === "max") return max;
  if (!/^\d+$/.test(t)) throw new Error(`cgroup file ${path}: ${JSON.stringify(t)} is not a number`);
  return BigInt(t);
}

async function u64(path: string, max = MAX_U64): Promise<bigint> {
  const text = await read(path);
  return text === undefined ? 0n : parseU64(text, path, max);
}

/** "key value" lines. */
async function kv(path: string): Promise<Map<string, bigint> | undefined> {
  const text = await read(path);
  if (text === undefined) return undefined;
  const out = new Map<string, bigint>();
  for (const line of text.split("\n")) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v && /^\d+$/.test(v)) out.set(k, BigInt(v));
  }
  return out;
}

// ── cgroup v1 ───────────────────────────────────────────────────────────────────────

export async function readMetricsV1(dirs: Map<string, string>): Promise<MetricsV1> {
  const m = create(MetricsV1Schema);
  const at = (ctrl: string, file: string) => {
    const dir = dirs.get(ctrl);
    return dir === undefined ? undefined : join(dir, file);
  };
  await Promise.all([
    pidsV1(m, at),
    cpuV1(m, at),
    memoryV1(m, at),
    blkioV1(m, dirs.get("blkio")),
    hugetlbV1(m, dirs.get("hugetlb")),
    rdmaV1(m, dirs.get("rdma")),
  ]);
  return m;
}

type At = (ctrl: string, file: string) => string | undefined;

async function pidsV1(m: MetricsV1, at: At) {
  const current = at("pids", "pids.current");
  if (!current) return;
  m.pids = {
    $typeName: "io.containerd.cgroups.v1.PidsStat",
    current: await u64(current),
    limit: await u64(at("pids", "pids.max") as string, 0n), // v1 reports an unlimited pids.max as 0
  };
}

async function cpuV1(m: MetricsV1, at: At) {
  const usage = at("cpuacct", "cpuacct.usage");
  const cpuStat = at("cpu", "cpu.stat");
  if (!usage && !cpuStat) return;
  const cpu = create(CPUStatSchema);
  if (usage) {
    const [total, percpu, stat] = await Promise.all([
      u64(usage),
      read(at("cpuacct", "cpuacct.usage_percpu") as string),
      kv(at("cpuacct", "cpuacct.stat") as string),
    ]);
    cpu.usage = {
      $typeName: "io.containerd.cgroups.v1.CPUUsage",
      total,
      kernel: (stat?.get("system") ?? 0n) * NS_PER_TICK,
      user: (stat?.get("user") ?? 0n) * NS_PER_TICK,
      perCpu: (percpu ?? "").trim().split(/\s+/).filter(Boolean).map(BigInt),
    };
  }
  if (cpuStat) {
    const s = await kv(cpuStat);
    if (s) {
      cpu.throttling = {
        $typeName: "io.containerd.cgroups.v1.Throttle",
        periods: s.get("nr_periods") ?? 0n,
        throttledPeriods: s.get("nr_throttled") ?? 0n,
        throttledTime: s.get("throttled_time") ?? 0n,
      };
    }
  }
  m.cpu = cpu;
}

// memory.stat key → MemoryStat field (the names differ for the page counters and swap limit).
const memoryStatV1 = {
  cache: "cache",
  rss: "rss",
  rssHuge: "rss_huge",
  mappedFile: "mapped_file",
  dirty: "dirty",
  writeback: "writeback",
  pgPgIn: "pgpgin",
  pgPgOut: "pgpgout",
  pgFault: "pgfault",
  pgMajFault: "pgmajfault",
  inactiveAnon: "inactive_anon",
  activeAnon: "active_anon",
  inactiveFile: "inactive_file",
  activeFile: "active_file",
  unevictable: "unevictable",
  hierarchicalMemoryLimit: "hierarchical_memory_limit",
  hierarchicalSwapLimit: "hierarchical_memsw_limit",
  totalCache: "total_cache",
  totalRss: "total_rss",
  totalRssHuge: "total_rss_huge",
  totalMappedFile: "total_mapped_file",
  totalDirty: "total_dirty",
  totalWriteback: "total_writeback",
  totalPgPgIn: "total_pgpgin",
  totalPgPgOut: "total_pgpgout",
  totalPgFault: "total_pgfault",
  totalPgMajFault: "total_pgmajfault",
  totalInactiveAnon: "total_inactive_anon",
  totalActiveAnon: "total_active_anon",
  totalInactiveFile: "total_inactive_file",
  totalActiveFile: "total_active_file",
  totalUnevictable: "total_unevictable",
} as const;

async function memoryV1(m: MetricsV1, at: At) {
  const statPath = at("memory", "memory.stat");
  if (!statPath) return;
  const stat = await kv(statPath);
  if (!stat) return;
  const mem = create(MemoryStatSchema);
  for (const [field, key] of Object.entries(memoryStatV1)) {
    (mem as unknown as Record<string, bigint>)[field] = stat.get(key) ?? 0n;
  }
  const entry = async (prefix: string) => {
    const f = (name: string) => at("memory", `${prefix}.${name}`) as string;
    const usage = await read(f("usage_in_bytes"));
    if (usage === undefined) return undefined; // e.g. memsw without swap accounting
    const [max, failcnt, limit] = await Promise.all([
      u64(f("max_usage_in_bytes")),
      u64(f("failcnt")),
      u64(f("limit_in_bytes")),
    ]);
    return {
      $typeName: "io.containerd.cgroups.v1.MemoryEntry" as const,
      usage: parseU64(usage, f("usage_in_bytes")),
      max,
      failcnt,
      limit,
    };
  };
  [mem.usage, mem.swap, mem.kernel, mem.kernelTcp] = await Promise.all([
    entry("memory"),
    entry("memory.memsw"),
    entry("memory.kmem"),
    entry("memory.kmem.tcp"),
  ]);
  m.memory = mem;
  const oom = await kv(at("memory", "memory.oom_control") as string);
  if (oom) {
    m.memoryOomControl = {
      $typeName: "io.containerd.cgroups.v1.MemoryOomControl",
      oomKillDisable: oom.get("oom_kill_disable") ?? 0n,
      underOom: oom.get("under_oom") ?? 0n,
      oomKill: oom.get("oom_kill") ?? 0n,
    };
  }
}

/** "major:minor → /dev/name" from /proc/partitions, as containerd names blkio devices. */
async function blockDevices(): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const line of ((await read("/proc/partitions")) ?? "").split("\n").slice(2)) {
    const [major, minor, , name] = line.trim().split(/\s+/);
    if (major && minor && name) out.set(`${major}:${minor}`, `/dev/${name}`);
  }
  return out;
}

const blkioFiles = [
  ["sectorsRecursive", "sectors_recursive"],
  ["ioServiceBytesRecursive", "io_service_bytes_recursive"],
  ["ioServicedRecursive", "io_serviced_recursive"],
  ["ioQueuedRecursive", "io_queued_recursive"],
  ["ioServiceTimeRecursive", "io_service_time_recursive"],
  ["ioWaitTimeRecursive", "io_wait_time_recursive"],
  ["ioMergedRecursive", "io_merged_recursive"],
  ["ioTimeRecursive", "io_time_recursive"],
] as const;

async function blkioV1(m: MetricsV1, dir: string | undefined) {
  if (!dir) return;
  const devices = await blockDevices();
  const entries = async (file: string): Promise<BlkIOEntry[]> => {
    const out: BlkIOEntry[] = [];
    for (const line of ((await read(join(dir, `blkio.${file}`))) ?? "").split("\n")) {
      const f = line.trim().split(/\s+/);
      // "8:0 Read 4096" or "8:0 4096"; "Total 4096" lines carry no device.
      if (f.length < 2 || !/^\d+:\d+$/.test(f[0] as string)) continue;
      const [major, minor] = (f[0] as string).split(":").map(BigInt) as [bigint, bigint];
      const value = f[f.length - 1] as string;
      if (!/^\d+$/.test(value)) continue;
      out.push(
        create(BlkIOEntrySchema, {
          op: f.length > 2 ? f[1] : "",
          device: devices.get(f[0] as string) ?? "",
          major,
          minor,
          value: BigInt(value),
        }),
      );
    }
    return out;
  };
  const blkio = create(BlkIOStatSchema);
  // CFQ/BFQ's recursive files first; when they hold nothing, the throttle counters (containerd's order).
  const lists = await Promise.all(blkioFiles.map(([, file]) => entries(file)));
  blkioFiles.forEach(([field], i) => {
    blkio[field] = lists[i] ?? [];
  });
  if (lists.every((l) => l.length === 0)) {
    blkio.ioServicedRecursive = await entries("throttle.io_serviced");
    blkio.ioServiceBytesRecursive = await entries("throttle.io_service_bytes");
  }
  m.blkio = blkio;
}

/** Huge page sizes as the hugetlb files name them: hugepages-2048kB → "2MB". */
async function hugePageSizes(): Promise<string[]> {
  const { readdir } = await import("node:fs/promises");
  let names: string[] = [];
  try {
    names = await readdir("/sys/kernel/mm/hugepages");
  } catch {
    return [];
  }
  const units = ["KB", "MB", "GB", "TB"];
  return names.flatMap((n) => {
    const kb = /^hugepages-(\d+)kB$/.exec(n)?.[1];
    if (!kb) return [];
    let size = Number(kb);
    let u = 0;
    while (size >= 1024 && u < units.length - 1) {
      size /= 1024;
      u++;
    }
    return [`${size}${units[u]}`];
  });
}

async function hugetlbV1(m: MetricsV1, dir: string | undefined) {
  if (!dir) return;
  const stats: HugetlbStat[] = [];
  for (const pagesize of await hugePageSizes()) {
    const f = (name: string) => join(dir, `hugetlb.${pagesize}.${name}`);
    const usage = await read(f("usage_in_bytes"));
    if (usage === undefined) continue;
    stats.push(
      create(HugetlbStatSchema, {
        pagesize,
        usage: parseU64(usage, f("usage_in_bytes")),
        max: await u64(f("max_usage_in_bytes")),
        failcnt: await u64(f("failcnt")),
      }),
    );
  }
  m.hugetlb = stats;
}

/** rdma.current / rdma.max: "mlx4_0 hca_handle=2 hca_object=2000" ("max" = 2^32-1). */
async function rdmaEntries<S extends typeof RdmaEntrySchema | typeof RdmaEntryV2Schema>(
  schema: S,
  path: string,
): Promise<MessageShape<S>[]> {
  const out: MessageShape<S>[] = [];
  for (const line of ((await read(path)) ?? "").split("\n")) {
    const [device, ...pairs] = line.trim().split(/\s+/);
    if (!device) continue;
    const v = Object.fromEntries(pairs.map((p) => p.split("=") as [string, string]));
    const n = (s: string | undefined) => (s === "max" ? 0xffff_ffff : Number(s ?? 0));
    out.push(
      create(schema as DescMessage, {
        device,
        hcaHandles: n(v.hca_handle),
        hcaObjects: n(v.hca_object),
      }) as MessageShape<S>,
    );
  }
  return out;
}

async function rdmaV1(m: MetricsV1, dir: string | undefined) {
  if (!dir) return;
  m.rdma = {
    $typeName: "io.containerd.cgroups.v1.RdmaStat",
    current: await rdmaEntries(RdmaEntrySchema, join(dir, "rdma.current")),
    limit: await rdmaEntries(RdmaEntrySchema, join(dir, "rdma.max")),
  };
}

// ── cgroup v2 ───────────────────────────────────────────────────────────────────────

// memory.stat keys that MemoryStat carries under the same names (snake_case → camelCase).
const memoryStatV2 = [
  "anon",
  "file",
  "kernel_stack",
  "slab",
  "sock",
  "shmem",
  "file_mapped",
  "file_dirty",
  "file_writeback",
  "anon_thp",
  "inactive_anon",
  "active_anon",
  "inactive_file",
  "active_file",
  "unevictable",
  "slab_reclaimable",
  "slab_unreclaimable",
  "pgfault",
  "pgmajfault",
  "workingset_refault",
  "workingset_activate",
  "workingset_nodereclaim",
  "pgrefill",
  "pgscan",
  "pgsteal",
  "pgactivate",
  "pgdeactivate",
  "pglazyfree",
  "pglazyfreed",
  "thp_fault_alloc",
  "thp_collapse_alloc",
] as const;
const camel = (s: string) => s.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());

export async function readMetricsV2(dir: string): Promise<MetricsV2> {
  const f = (name: string) => join(dir, name);
  const [cpuStat, memStat, events, io] = await Promise.all([
    kv(f("cpu.stat")),
    kv(f("memory.stat")),
    kv(f("memory.events")),
    read(f("io.stat")),
  ]);
  const cpu = cpuStat ?? new Map<string, bigint>();
  const mem = memStat ?? new Map<string, bigint>();
  const m = create(MetricsV2Schema, {
    pids: { current: await u64(f("pids.current")), limit: await u64(f("pids.max")) },
    cpu: {
      usageUsec: cpu.get("usage_usec") ?? 0n,
      userUsec: cpu.get("user_usec") ?? 0n,
      systemUsec: cpu.get("system_usec") ?? 0n,
      nrPeriods: cpu.get("nr_periods") ?? 0n,
      nrThrottled: cpu.get("nr_throttled") ?? 0n,
      throttledUsec: cpu.get("throttled_usec") ?? 0n,
    },
    memory: {
      ...Object.fromEntries(memoryStatV2.map((k) => [camel(k), mem.get(k) ?? 0n])),
      usage: await u64(f("memory.current")),
      usageLimit: await u64(f("memory.max")),
      maxUsage: await u64(f("memory.peak")),
      swapUsage: await u64(f("memory.swap.current")),
      swapLimit: await u64(f("memory.swap.max")),
      swapMaxUsage: await u64(f("memory.swap.peak")),
    },
    rdma: {
      current: await rdmaEntries(RdmaEntryV2Schema, f("rdma.current")),
      limit: await rdmaEntries(RdmaEntryV2Schema, f("rdma.max")),
    },
    io: { usage: ioEntries(io ?? "") },
    hugetlb: await hugetlbV2(dir),
  });
  if (events && events.size > 0) {
    m.memoryEvents = {
      $typeName: "io.containerd.cgroups.v2.MemoryEvents",
      low: events.get("low") ?? 0n,
      high: events.get("high") ?? 0n,
      max: events.get("max") ?? 0n,
      oom: events.get("oom") ?? 0n,
      oomKill: events.get("oom_kill") ?? 0n,
    };
  }
  return m;
}

/** io.stat: "8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0". */
function ioEntries(text: string) {
  return text
    .split("\n")
    .map((line) => line.trim().split(/\s+/))
    .filter(([dev]) => dev !== undefined && /^\d+:\d+$/.test(dev))
    .map(([dev, ...pairs]) => {
      const [major, minor] = (dev as string).split(":").map(BigInt) as [bigint, bigint];
      const v = new Map(pairs.map((p) => p.split("=") as [string, string]));
      const n = (k: string) => (/^\d+$/.test(v.get(k) ?? "") ? BigInt(v.get(k) as string) : 0n);
      return create(IOEntrySchema, {
        major,
        minor,
        rbytes: n("rbytes"),
        wbytes: n("wbytes"),
        rios: n("rios"),
        wios: n("wios"),
      });
    });
}

async function hugetlbV2(dir: string) {
  const out = [];
  for (const pagesize of await hugePageSizes()) {
    const current = await read(join(dir, `hugetlb.${pagesize}.current`));
    if (current === undefined) continue;
    out.push(
      create(HugeTlbStatSchema, {
        pagesize,
        current: parseU64(current, join(dir, `hugetlb.${pagesize}.current`)),
        max: await u64(join(dir, `hugetlb.${pagesize}.max`)),
      }),
    );
  }
  return out;
}
