/** Scenario `daemon`: the foundation every later feature stands on, bunkerd against
 *  containerd 1.6 on the same machine in the same run, one daemon at a time.
 *
 *  - boot: spawn → first successful Version reply, fresh root each run, interleaved targets;
 *    and the CPU time the daemon spent to get there (all threads), which a busy shared machine
 *    distorts far less than the wall time.
 *  - memory: PSS and RSS of the daemon's process tree at ready, 1 s later (settled: start-up
 *    garbage collected), and after the load runs.
 *  - Version calls/s at each concurrency over one HTTP/2 connection: the Node client (p50/p99),
 *    then h2load when installed (cheap enough per call to find the daemon's own ceiling).
 *
 *  `--profile` instead runs bunkerd once under `bun --cpu-prof` with the c=32 load and prints
 *  its hottest functions by self time (a diagnosis, not a timing run). */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { REPO } from "../test/harness/daemon.ts";
import { formatProfile, summarizeProfile } from "./lib/cpuprofile.ts";
import { hasH2load, type LoadClient, type LoadResult, runLoad } from "./lib/load.ts";
import { cpuMsOf, type Memory, memoryOf } from "./lib/proc.ts";
import { fmt, fmtInt, kbToMiB, markdownTable, median, summarize } from "./lib/stats.ts";
import { bunkerd, containerd, type Target } from "./lib/targets.ts";

export const usage = `bun bench/run.ts daemon [options]
  --runs N          boot runs per target (default 9, at least 7)
  --rounds N        throughput rounds per target, each on a fresh daemon (default 2)
  --duration S      measured seconds per load run (default 3)
  --warmup S        warm-up seconds before each measured window (default 0.5)
  --concurrency L   comma-separated in-flight calls (default 1,32)
  --no-cri          skip the containerd+cri reference column
  --no-h2load       skip the h2load runs (skipped anyway when h2load is not installed)
  --profile         profile bunkerd under the last concurrency's load instead (bun --cpu-prof,
                    h2load if installed, else the Node client); print the top self time
  --profile-boot    profile bunkerd's boot alone
  --boot-phases     boot bunkerd --runs times with BUNKERD_BOOT_TRACE=1 and print when each phase
                    (config, worker spawn and ready, each plugin init, serving) is reached
  --source          run bunkerd from source (bin/bunkerd) instead of the compiled binary
  --bin PATH        run this bunkerd binary instead of compiling the tree (e.g. an older build)`;

interface Options {
  runs: number;
  rounds: number;
  durationS: number;
  warmupS: number;
  concurrency: number[];
  cri: boolean;
  clients: LoadClient[];
  profile?: "load" | "boot";
  bootPhases: boolean;
  source: boolean;
  bin?: string;
}

/** One load configuration: which client, how many calls in flight. */
interface LoadSpec {
  client: LoadClient;
  c: number;
}
const keyOf = (l: LoadSpec) => `${l.client} c=${l.c}`;

interface TargetResult {
  target: Target;
  boots: number[];
  /** CPU time of the daemon (all threads) at its first Version reply, ms. */
  bootCpu: number[];
  readyMem: Memory[];
  /** Idle for SETTLE_MS after ready. */
  settledMem: Memory[];
  /** From the throughput daemons: at ready, and after all their load runs. */
  loadReadyMem: Memory[];
  afterLoadMem: Memory[];
  /** By keyOf(spec), one result per round. */
  load: Map<string, LoadResult[]>;
  version?: string;
}

function parse(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      runs: { type: "string", default: "9" },
      rounds: { type: "string", default: "2" },
      duration: { type: "string", default: "3" },
      warmup: { type: "string", default: "0.5" },
      concurrency: { type: "string", default: "1,32" },
      "no-cri": { type: "boolean", default: false },
      "no-h2load": { type: "boolean", default: false },
      profile: { type: "boolean", default: false },
      "profile-boot": { type: "boolean", default: false },
      "boot-phases": { type: "boolean", default: false },
      source: { type: "boolean", default: false },
      bin: { type: "string" },
    },
  });
  const num = (name: string, v: string, min: number) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < min) throw new Error(`--${name}: expected a number ≥ ${min}, got ${v}`);
    return n;
  };
  return {
    runs: num("runs", values.runs, 1),
    rounds: num("rounds", values.rounds, 1),
    durationS: num("duration", values.duration, 0.1),
    warmupS: num("warmup", values.warmup, 0),
    concurrency: values.concurrency.split(",").map((c) => num("concurrency", c, 1)),
    cri: !values["no-cri"],
    clients: !values["no-h2load"] && hasH2load() ? ["node", "h2load"] : ["node"],
    profile: values["profile-boot"] ? "boot" : values.profile ? "load" : undefined,
    bootPhases: values["boot-phases"],
    source: values.source,
    bin: values.bin,
  };
}

const specsOf = (o: Options): LoadSpec[] =>
  o.clients.flatMap((client) => o.concurrency.map((c) => ({ client, c })));

/** Rotates the order each round so no target always goes first (or right after another). */
const rotated = <T>(xs: T[], by: number) => xs.map((_, i) => xs[(i + by) % xs.length]!);

async function measure(o: Options, results: TargetResult[], progress: (s: string) => void): Promise<void> {
  // One untimed start per target: page cache, Bun's transpiler cache, containerd's binary.
  for (const r of results) {
    try {
      await r.target.start();
    } finally {
      await r.target.stop();
    }
  }
  for (let i = 0; i < o.runs; i++) {
    for (const r of rotated(results, i)) {
      try {
        const up = await r.target.start();
        r.bootCpu.push(cpuMsOf(up.pid));
        r.readyMem.push(memoryOf(up.pid));
        r.boots.push(up.bootMs);
        r.version = up.version;
        await Bun.sleep(SETTLE_MS);
        r.settledMem.push(memoryOf(up.pid));
      } finally {
        await r.target.stop();
      }
    }
    progress(`boot run ${i + 1}/${o.runs}`);
  }
  for (let round = 0; round < o.rounds; round++) {
    for (const r of rotated(results, round)) {
      try {
        const up = await r.target.start();
        r.loadReadyMem.push(memoryOf(up.pid));
        for (const spec of specsOf(o)) {
          const res = await runLoad(spec.client, up.address, up.pid, {
            concurrency: spec.c,
            durationS: o.durationS,
            warmupS: o.warmupS,
          });
          r.load.set(keyOf(spec), [...(r.load.get(keyOf(spec)) ?? []), res]);
          progress(
            `round ${round + 1}/${o.rounds} ${r.target.name} ${keyOf(spec)}: ${fmtInt(res.callsPerSec)} calls/s`,
          );
        }
        r.afterLoadMem.push(memoryOf(up.pid));
      } finally {
        await r.target.stop();
      }
    }
  }
}

/** How long a daemon idles after ready before its "settled" memory is read. */
const SETTLE_MS = 1000;

type Check = { le?: number; ge?: number };
interface Row {
  metric: string;
  value: (r: TargetResult) => number;
  show: (x: number, r: TargetResult) => string;
  check?: Check;
}

function report(
  o: Options,
  results: TargetResult[],
  meta: { load0: number[]; load1: number[]; ms: number },
): string {
  const [bk, cd, cri] = results as [TargetResult, TargetResult, TargetResult | undefined];
  const mib = (xs: Memory[], k: "pssKb" | "rssKb" | "anonKb") => kbToMiB(median(xs.map((m) => m[k])));
  type LoadField = "callsPerSec" | "p50Ms" | "p99Ms" | "meanMs" | "daemonCpuUsPerCall" | "clientCpuPct";
  const loadMedian = (r: TargetResult, s: LoadSpec, k: LoadField) =>
    median((r.load.get(keyOf(s)) ?? []).map((l) => l[k] ?? Number.NaN));
  const errs = (r: TargetResult, s: LoadSpec) =>
    (r.load.get(keyOf(s)) ?? []).reduce((n, l) => n + l.errors, 0);

  const rows: string[][] = [];
  const add = ({ metric, value, show, check }: Row) => {
    const a = value(bk);
    const b = value(cd);
    const ratio = a / b;
    let verdict = "";
    if (check?.le !== undefined) verdict = `≤ ${check.le.toFixed(2)} ${ratio <= check.le ? "✓" : "✗"}`;
    if (check?.ge !== undefined) verdict = `≥ ${check.ge.toFixed(2)} ${ratio >= check.ge ? "✓" : "✗"}`;
    const row = [metric, show(a, bk), show(b, cd), fmt(ratio, 2), verdict];
    if (cri) row.push(show(value(cri), cri));
    rows.push(row);
  };
  const text = (metric: string, f: (r: TargetResult) => string) => {
    const row = [metric, f(bk), f(cd), "", ""];
    if (cri) row.push(f(cri));
    rows.push(row);
  };
  const ms1 = (x: number) => fmt(x);
  const noWorse = { le: 1 };

  add({
    metric: "boot to first Version, median (ms)",
    value: (r) => median(r.boots),
    show: ms1,
    check: noWorse,
  });
  text("boot min – max (ms)", (r) => {
    const s = summarize(r.boots);
    return `${fmt(s.min)} – ${fmt(s.max)}`;
  });
  add({
    metric: "boot CPU, all threads, median (ms)",
    value: (r) => median(r.bootCpu),
    show: (x) => fmt(x, 0),
  });
  const memRows = [
    ["PSS", "pssKb"],
    ["RSS", "rssKb"],
    ["anonymous", "anonKb"],
  ] as const;
  for (const [when, mems] of [
    ["at ready", (r: TargetResult) => r.readyMem],
    [`settled (${SETTLE_MS / 1000} s after ready)`, (r: TargetResult) => r.settledMem],
    ["after load", (r: TargetResult) => r.afterLoadMem],
  ] as const) {
    for (const [label, k] of memRows) {
      add({ metric: `${label} ${when} (MiB)`, value: (r) => mib(mems(r), k), show: ms1, check: noWorse });
    }
  }
  for (const s of specsOf(o)) {
    const who = s.client === "node" ? "" : `, ${s.client}`;
    add({
      metric: `**Version calls/s, c=${s.c}${who}**`,
      value: (r) => loadMedian(r, s, "callsPerSec"),
      show: (x, r) => fmtInt(x) + (errs(r, s) ? ` (${errs(r, s)} errors)` : ""),
      check: { ge: 1.2 },
    });
    if (s.client === "node") {
      add({
        metric: `latency p50, c=${s.c} (ms)`,
        value: (r) => loadMedian(r, s, "p50Ms"),
        show: (x) => fmt(x, 3),
      });
      add({
        metric: `latency p99, c=${s.c} (ms)`,
        value: (r) => loadMedian(r, s, "p99Ms"),
        show: (x) => fmt(x, 2),
      });
    } else {
      add({
        metric: `latency mean, c=${s.c}${who} (ms)`,
        value: (r) => loadMedian(r, s, "meanMs"),
        show: (x) => fmt(x, 3),
      });
    }
    add({
      metric: `daemon CPU per call, c=${s.c}${who} (µs)`,
      value: (r) => loadMedian(r, s, "daemonCpuUsPerCall"),
      show: (x) => fmt(x, 0),
    });
    add({
      metric: `client CPU, c=${s.c}${who} (% of a core)`,
      value: (r) => loadMedian(r, s, "clientCpuPct"),
      show: (x) => fmt(x, 0),
    });
  }
  const header = ["metric", "bunkerd", "containerd", "bunkerd/containerd", "target"];
  if (cri) header.push("containerd+cri (ref)");

  const kernel = Bun.spawnSync(["uname", "-r"]).stdout.toString().trim();
  const avg = (xs: number[]) => xs.map((x) => x.toFixed(2)).join(" ");
  const lines = [
    `# bench daemon — ${new Date().toISOString()}`,
    "",
    `bunkerd tree: ${gitRevision()}`,
    `machine: ${cpus().length} CPUs (${cpus()[0]?.model ?? "?"}), kernel ${kernel}; bun ${Bun.version}, node ${nodeVersion()}`,
    `load average (1/5/15 min) before: ${avg(meta.load0)}, after: ${avg(meta.load1)}`,
    "targets (each on a fresh temp root/state/socket, one daemon at a time):",
    ...results.map((r) => `- ${r.target.name} ${r.version ?? ""}: ${r.target.description}`),
    `boot: ${o.runs} runs per target, interleaved, after one untimed warm-up start each; boot CPU is the daemon's user + system time at its first Version reply (10 ms ticks); memory at ready is the median over those runs, read right after each first Version reply, and settled ${SETTLE_MS} ms later.`,
    `load: ${o.rounds} round(s) per target on a fresh daemon each; per load run ${o.warmupS} s warm-up + ${o.durationS} s measured over one HTTP/2 connection; clients: node = node bench/lib/grpc-load.mjs${o.clients.includes("h2load") ? ", h2load = nghttp2's h2load -c 1 -m N" : ""}; medians over rounds.`,
    "",
    markdownTable(header, rows),
    "",
    "details:",
  ];
  for (const r of results) {
    lines.push(`- ${r.target.name}: boots (ms) ${r.boots.map((b) => fmt(b)).join(", ")}`);
    lines.push(`  boot CPU (ms) ${r.bootCpu.map((b) => fmt(b, 0)).join(", ")}`);
    const pair = (m: Memory) => [m.pssKb, m.rssKb, m.anonKb].map((kb) => fmt(kbToMiB(kb))).join("/");
    lines.push(
      `  load daemons PSS/RSS/anon MiB at ready: ${r.loadReadyMem.map(pair).join(", ")}; after load: ${r.afterLoadMem.map(pair).join(", ")}; processes: ${r.readyMem[0]?.pids.length ?? "?"}`,
    );
    for (const s of specsOf(o)) {
      const ls = r.load.get(keyOf(s)) ?? [];
      const each = ls
        .map((l) => `${fmtInt(l.callsPerSec)} (client CPU ${fmt(l.clientCpuPct, 0)}%)`)
        .join(", ");
      const errors = ls.filter((l) => l.errors).map((l) => `${l.errors} errors, last: ${l.lastError ?? "?"}`);
      lines.push(`  ${keyOf(s)}: calls/s per round ${each}${errors.length ? `; ${errors.join("; ")}` : ""}`);
    }
  }
  lines.push("", `scenario wall time: ${(meta.ms / 1000).toFixed(1)} s`);
  return lines.join("\n");
}

/** The commit and whether the working tree differs from it (read-only git commands). */
function gitRevision(): string {
  const env = { ...process.env, GIT_OPTIONAL_LOCKS: "0" };
  const git = (args: string[]) =>
    Bun.spawnSync(["git", ...args], { cwd: REPO, env })
      .stdout.toString()
      .trim();
  const rev = git(["rev-parse", "--short", "HEAD"]) || "unknown";
  const changed = git(["status", "--porcelain"]).split("\n").filter(Boolean).length;
  return changed ? `${rev} + ${changed} uncommitted changes` : rev;
}

function nodeVersion(): string {
  return Bun.spawnSync(["node", "--version"]).stdout.toString().trim();
}

async function profile(o: Options, what: "load" | "boot"): Promise<void> {
  const dir = mkdtempSync("/tmp/bench-cpuprof-");
  const t = bunkerd({ cpuProfileDir: dir });
  const c = o.concurrency.at(-1) ?? 32;
  const client = o.clients.at(-1) ?? "node";
  try {
    const up = await t.start();
    if (what === "boot") {
      console.log(`bunkerd under --cpu-prof: ready in ${fmt(up.bootMs)} ms (profiling overhead included)`);
      // main.ts installs its SIGTERM handler only after startDaemon resolves, a moment after
      // the socket answers; a SIGTERM before that kills bun before it writes the profile.
      await Bun.sleep(300);
    } else {
      const res = await runLoad(client, up.address, up.pid, {
        concurrency: c,
        durationS: o.durationS,
        warmupS: o.warmupS,
      });
      const cost = `daemon CPU ${fmt(res.daemonCpuUsPerCall, 0)} µs/call`;
      console.log(
        `bunkerd under --cpu-prof, ${client} c=${c}: ${fmtInt(res.callsPerSec)} calls/s, ${cost} (profiled)`,
      );
    }
  } finally {
    await t.stop(); // SIGTERM: bun writes the profile on exit
  }
  const file = readdirSync(dir).find((f) => f.endsWith(".cpuprofile"));
  if (!file) throw new Error(`no .cpuprofile written in ${dir}`);
  console.log(`profile: ${join(dir, file)} (open in Chrome DevTools or speedscope)\n`);
  console.log(formatProfile(summarizeProfile(join(dir, file), 25)));
}

/** Where boot time goes: bunkerd's own phase marks (BUNKERD_BOOT_TRACE=1: epoch ms per mark on
 *  stderr), as ms since the spawn, median and min over the runs. Marks that repeat within one
 *  boot (each worker's "evaluated") are numbered in the order they came. */
async function bootPhases(o: Options): Promise<void> {
  const dir = mkdtempSync("/tmp/bench-boot-phases-");
  const t = bunkerd({ source: o.source, bin: o.bin, dir, env: { BUNKERD_BOOT_TRACE: "1" } });
  const at = new Map<string, number[]>();
  const boots: number[] = [];
  try {
    for (let i = 0; i <= o.runs; i++) {
      rmSync(join(dir, "root"), { recursive: true, force: true });
      rmSync(join(dir, "state"), { recursive: true, force: true });
      let up: Awaited<ReturnType<Target["start"]>>;
      let spawned: number;
      try {
        up = await t.start();
        spawned = performance.timeOrigin + performance.now() - up.bootMs;
      } finally {
        await t.stop();
      }
      if (i === 0) continue; // warm-up
      boots.push(up.bootMs);
      const seen = new Map<string, number>();
      const marks: [string, number][] = [];
      for (const m of readFileSync(join(dir, "daemon.log"), "utf8").matchAll(
        /^boot-trace (\S+) (\S+) (.*)$/gm,
      )) {
        marks.push([`${m[2]} ${m[3]}`, Number(m[1]) - spawned]);
      }
      marks.sort((a, b) => a[1] - b[1]);
      for (const [label, ms] of [...marks, ["first Version answered", up.bootMs] as [string, number]]) {
        const n = (seen.get(label) ?? 0) + 1;
        seen.set(label, n);
        const key = n > 1 || label.endsWith(" evaluated") ? `${label} #${n}` : label;
        at.set(key, [...(at.get(key) ?? []), ms]);
      }
    }
  } finally {
    await t.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  const rows = [...at.entries()]
    .map(([label, xs]) => [label, median(xs), summarize(xs).min, xs.length] as const)
    .sort((a, b) => a[1] - b[1])
    .map(([label, med, min, n]) => [label, fmt(med), fmt(min), String(n)]);
  console.log(
    `bunkerd boot phases, ${o.runs} boots (${t.description}); boots (ms): ${boots.map((b) => fmt(b)).join(", ")}`,
  );
  console.log(
    `load average before/after: see the machine; now ${loadavg()
      .map((x) => x.toFixed(2))
      .join(" ")}\n`,
  );
  console.log(markdownTable(["thread and mark", "ms after spawn, median", "min", "boots"], rows));
}

export default async function daemon(argv: string[]): Promise<void> {
  const o = parse(argv);
  if (o.bootPhases) return bootPhases(o);
  if (o.profile) return profile(o, o.profile);
  const targets: Target[] = [bunkerd({ source: o.source, bin: o.bin }), containerd()];
  if (o.cri) targets.push(containerd({ cri: true }));
  const results: TargetResult[] = targets.map((target) => ({
    target,
    boots: [],
    bootCpu: [],
    readyMem: [],
    settledMem: [],
    loadReadyMem: [],
    afterLoadMem: [],
    load: new Map(),
  }));
  const t0 = performance.now();
  const load0 = loadavg();
  await measure(o, results, (s) => console.error(`[daemon] ${s}`));
  console.log(report(o, results, { load0, load1: loadavg(), ms: performance.now() - t0 }));
}
