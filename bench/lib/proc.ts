/** What /proc says about a daemon: memory (PSS and RSS of the process and all its
 *  descendants) and CPU time. Bun workers are threads, so they are inside the daemon's own
 *  smaps_rollup; shims or other children are separate processes and are summed in. */
import { readdirSync, readFileSync } from "node:fs";

export interface Memory {
  pssKb: number;
  rssKb: number;
  /** Anonymous pages (heap, stacks): unlike PSS, not lowered by other processes that map the
   *  same binary (the bench runner is itself bun); unlike RSS, no binary or library text. */
  anonKb: number;
  /** The pids summed: the daemon first, then its descendants. */
  pids: number[];
}

/** Fields of /proc/PID/stat after the command name (which may contain spaces). */
function statFields(pid: number): string[] | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, "utf8");
    return s.slice(s.lastIndexOf(")") + 2).split(" ");
  } catch {
    return undefined; // gone meanwhile
  }
}

/** The pid and every descendant, by scanning parent pids (no CONFIG_PROC_CHILDREN needed). */
export function processTree(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync("/proc")) {
    const p = Number(name);
    if (!Number.isInteger(p)) continue;
    const ppid = Number(statFields(p)?.[1]); // field 4 of stat: ppid
    if (!Number.isInteger(ppid)) continue;
    const list = children.get(ppid) ?? [];
    list.push(p);
    children.set(ppid, list);
  }
  const out: number[] = [];
  const queue = [pid];
  while (queue.length) {
    const p = queue.shift()!;
    out.push(p);
    queue.push(...(children.get(p) ?? []));
  }
  return out;
}

/** The kB fields of /proc/PID/smaps_rollup (Rss, Pss, Anonymous, …); empty if it is gone. */
function rollup(pid: number): Record<string, number> {
  const out: Record<string, number> = {};
  try {
    for (const m of readFileSync(`/proc/${pid}/smaps_rollup`, "utf8").matchAll(/^(\w+):\s+(\d+) kB/gm)) {
      out[m[1]!] = Number(m[2]);
    }
  } catch {}
  return out;
}

export function memoryOf(pid: number): Memory {
  const pids = processTree(pid);
  const mem: Memory = { pssKb: 0, rssKb: 0, anonKb: 0, pids };
  for (const p of pids) {
    const r = rollup(p);
    mem.pssKb += r.Pss ?? 0;
    mem.rssKb += r.Rss ?? 0;
    mem.anonKb += r.Anonymous ?? 0;
  }
  return mem;
}

const clockTicks = Number(Bun.spawnSync(["getconf", "CLK_TCK"]).stdout.toString().trim()) || 100;

/** User + system CPU time of the process (all its threads), in ms. Tick resolution (10 ms). */
export function cpuMsOf(pid: number): number {
  const f = statFields(pid);
  if (!f) return Number.NaN;
  // stat fields 14 (utime) and 15 (stime); f starts at field 3.
  return ((Number(f[11]) + Number(f[12])) * 1000) / clockTicks;
}

export interface ThreadCpu {
  tid: number;
  /** The thread's name (`/proc/PID/task/TID/comm`): bunkerd names each worker after its group,
   *  e.g. `io.containerd.m` (metadata, 15 characters kept); the main thread is the process name. */
  name: string;
  cpuMs: number;
}

/** User + system CPU time of each thread of the process, in ms (tick resolution). */
export function threadCpuOf(pid: number): ThreadCpu[] {
  const out: ThreadCpu[] = [];
  let tids: string[] = [];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const t of tids) {
    try {
      const s = readFileSync(`/proc/${pid}/task/${t}/stat`, "utf8");
      const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
      const name = readFileSync(`/proc/${pid}/task/${t}/comm`, "utf8").trim();
      out.push({ tid: Number(t), name, cpuMs: ((Number(f[11]) + Number(f[12])) * 1000) / clockTicks });
    } catch {} // the thread ended meanwhile
  }
  return out;
}
