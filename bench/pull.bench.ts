/** Scenario `pull`: image pulls from one local registry (Debian's docker-registry, plain http),
 *  into bunkerd and into containerd 1.6 in the same run, one daemon at a time.
 *
 *  Images (built from local material, untimed, pushed once with skopeo): busybox (one layer),
 *  small (the e2e test's three small layers), large (four layers, ~220 MB unpacked, ~71 MB gzip).
 *  Ways of pulling, each on a fresh daemon (fresh root: the reset) per run:
 *  - `ctr → bunkerd`: the Go ctr 1.6 pulling client-side (Content.Write, Snapshots.Prepare,
 *    Diff.Apply, Snapshots.Commit, Images.Create over gRPC);
 *  - `ctr → containerd`: the same ctr command against containerd 1.6, the baseline;
 *  - `Transfer → bunkerd`: the daemon-side pull (containerd 1.7's Transfer service), one call
 *    from a Connect client: what bctr uses;
 *  - `bctr → bunkerd`: `bctr images pull` (compiled, or bin/bctr with --source), once bctr has
 *    that command ("not yet" otherwise);
 *  - `ctr → baseline bunkerd` with `--baseline PATH`: another bunkerd binary, before/after.
 *  The time is the client's wall time, spawn to exit (Go's start included for ctr).
 *
 *  `--trace IMAGE` instead records every gRPC call of one ctr pull into each daemon.
 *
 *  `--profile IMAGE` instead runs bunkerd from source under `bun --cpu-prof` and JSC's
 *  sampling profiler (every worker) through a few ctr pulls of IMAGE and prints where the time
 *  goes, thread CPU, and `strace -c -f` syscall counts of one pull into each daemon. */
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { canRunRegistry, startRegistry } from "../packages/registry/src/testutil/registry.ts";
import { REPO } from "../test/harness/daemon.ts";
import {
  formatJscSampling,
  formatProfile,
  summarizeJscSampling,
  summarizeProfile,
} from "./lib/cpuprofile.ts";
import { startTracer, summarizeCalls } from "./lib/grpc-trace.ts";
import { cpuMsOf, type ThreadCpu, threadCpuOf } from "./lib/proc.ts";
import { type BenchImage, buildAndPush } from "./lib/pull-images.ts";
import { fmt, markdownTable, summarize } from "./lib/stats.ts";
import { bunkerd, containerd, type Running, type Target } from "./lib/targets.ts";
import { transferPull } from "./lib/transfer-pull.ts";

export const usage = `bun bench/run.ts pull [options]
  --runs N          pulls per image and way, each on a fresh daemon (default 5)
  --images L        comma-separated: busybox,small,large (default all)
  --ways L          comma-separated: ctr-bunkerd,ctr-containerd,transfer-bunkerd,bctr-bunkerd,
                    ctr-baseline (default all; bctr-bunkerd only when bin/bctr has images pull,
                    ctr-baseline only with --baseline)
  --source          run bunkerd and bctr from source (bin/bunkerd, bin/bctr) instead of compiling
  --bin PATH        run this bunkerd binary (e.g. /usr/local/bin/bunkerd) instead of compiling
  --baseline PATH   also ctr → this bunkerd binary (e.g. one built before a change): before and
                    after in one run
  --warm            pull a one-file image (untimed, the same way) into each fresh daemon before
                    the timed pull: a long-running daemon's pull, not the first after boot
  --profile IMAGE   profile bunkerd (from source) through ctr pulls of IMAGE instead; with
                    strace -c -f of one pull into each daemon
  --profile-runs N  ctr pulls in the profiled daemon (default 3; images rm --sync between)
  --trace IMAGE     one ctr pull of IMAGE into each daemon through a recording proxy instead:
                    the timeline of its gRPC calls (method, start, end, bytes) and a summary`;

const NAMESPACE = "bench";
type ImageName = Exclude<BenchImage["name"], "warmup">;
const IMAGES: ImageName[] = ["busybox", "small", "large"];
type Way = "ctr-bunkerd" | "ctr-containerd" | "transfer-bunkerd" | "bctr-bunkerd" | "ctr-baseline";
const WAYS: Way[] = ["ctr-bunkerd", "ctr-containerd", "transfer-bunkerd", "bctr-bunkerd", "ctr-baseline"];
const LABEL: Record<Way, string> = {
  "ctr-bunkerd": "ctr → bunkerd",
  "ctr-containerd": "ctr → containerd",
  "transfer-bunkerd": "Transfer → bunkerd",
  "bctr-bunkerd": "bctr → bunkerd",
  "ctr-baseline": "ctr → baseline bunkerd",
};

interface Options {
  runs: number;
  images: ImageName[];
  ways: Way[];
  source: boolean;
  bin?: string;
  warm: boolean;
  baseline?: string;
  profile?: ImageName;
  profileRuns: number;
  trace?: ImageName;
}

function parse(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      runs: { type: "string", default: "5" },
      images: { type: "string", default: IMAGES.join(",") },
      ways: { type: "string", default: WAYS.join(",") },
      source: { type: "boolean", default: false },
      bin: { type: "string" },
      warm: { type: "boolean", default: false },
      baseline: { type: "string" },
      profile: { type: "string" },
      "profile-runs": { type: "string", default: "3" },
      trace: { type: "string" },
    },
  });
  const num = (name: string, v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${name}: expected an integer ≥ 1, got ${v}`);
    return n;
  };
  const oneOf = <T extends string>(name: string, all: readonly T[], v: string): T => {
    if (!all.includes(v as T)) throw new Error(`--${name}: expected one of ${all.join(", ")}, got ${v}`);
    return v as T;
  };
  return {
    runs: num("runs", values.runs),
    images: values.images.split(",").map((v) => oneOf("images", IMAGES, v)),
    ways: values.ways.split(",").map((v) => oneOf("ways", WAYS, v)),
    source: values.source,
    bin: values.bin,
    warm: values.warm,
    baseline: values.baseline,
    profile: values.profile === undefined ? undefined : oneOf("profile", IMAGES, values.profile),
    profileRuns: num("profile-runs", values["profile-runs"]),
    trace: values.trace === undefined ? undefined : oneOf("trace", IMAGES, values.trace),
  };
}

/** bctr's images pull, once apps/ctr has it: `bctr images pull --help` must succeed. */
function bctrReady(): boolean {
  const r = Bun.spawnSync([join(REPO, "bin/bctr"), "images", "pull", "--help"], {
    stdout: "pipe",
    stderr: "pipe",
  });
  return r.exitCode === 0;
}

/** The bctr a user runs: compiled like bunkerd (once per bench run, untimed), so Bun's start
 *  and transpile of the CLI are not in its time; `--source` runs bin/bctr (bun on the source). */
let bctrBinary: string | undefined;
function bctrCommand(source: boolean): string {
  if (source) return join(REPO, "bin/bctr");
  if (bctrBinary) return bctrBinary;
  const out = join(tmpdir(), `bctr-bench-${process.pid}`);
  const r = Bun.spawnSync(
    [
      "bun",
      "build",
      "--compile",
      "--minify",
      "--format=esm",
      "--bytecode",
      join(REPO, "apps/ctr/src/main.ts"),
      "--outfile",
      out,
    ],
    { stdout: "pipe", stderr: "pipe" },
  );
  if (r.exitCode !== 0) {
    console.error(
      `[pull] compiling bctr failed, running bin/bctr from source: ${r.stderr.toString().trim()}`,
    );
    bctrBinary = join(REPO, "bin/bctr");
    return bctrBinary;
  }
  process.on("exit", () => rmSync(out, { force: true }));
  bctrBinary = out;
  return out;
}

interface Timed {
  ms: number;
  /** The daemon's CPU (all threads) over the pull, ms. */
  daemonCpuMs: number;
  /** The client's own CPU (user + system), ms; undefined for the in-process Transfer client. */
  clientCpuMs?: number;
}

async function spawnTimed(argv: string[], up: Running): Promise<Timed> {
  const cpu0 = cpuMsOf(up.pid);
  const t0 = performance.now();
  const p = Bun.spawn(argv, { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const timer = setTimeout(() => p.kill("SIGKILL"), 600_000);
  const [code, stdout, stderr] = await Promise.all([
    p.exited,
    new Response(p.stdout).text(),
    new Response(p.stderr).text(),
  ]);
  const ms = performance.now() - t0;
  clearTimeout(timer);
  if (code !== 0)
    throw new Error(`${argv.join(" ")} exited ${code}: ${stderr.trim()}\n${stdout.slice(-2000)}`);
  const ru = p.resourceUsage();
  const clientCpuMs = ru ? Number(ru.cpuTime.user + ru.cpuTime.system) / 1000 : undefined;
  return { ms, daemonCpuMs: cpuMsOf(up.pid) - cpu0, clientCpuMs };
}

const ctrPull = (up: Running, ref: string, address = up.address) =>
  spawnTimed(
    ["ctr", "--address", address, "--namespace", NAMESPACE, "images", "pull", "--plain-http", ref],
    up,
  );

async function pullOnce(way: Way, up: Running, image: BenchImage, source = false): Promise<Timed> {
  if (way === "ctr-bunkerd" || way === "ctr-containerd" || way === "ctr-baseline")
    return ctrPull(up, image.ref);
  if (way === "bctr-bunkerd") {
    const bctr = bctrCommand(source);
    return spawnTimed(
      [bctr, "--address", up.address, "--namespace", NAMESPACE, "images", "pull", "--plain-http", image.ref],
      up,
    );
  }
  const cpu0 = cpuMsOf(up.pid);
  const t0 = performance.now();
  await transferPull(up.address, image.ref, { namespace: NAMESPACE });
  return { ms: performance.now() - t0, daemonCpuMs: cpuMsOf(up.pid) - cpu0 };
}

/** A cheap check that the pull really landed: the image is listed with its manifest digest. */
async function checkPulled(up: Running, image: BenchImage): Promise<void> {
  const p = Bun.spawn(["ctr", "--address", up.address, "--namespace", NAMESPACE, "images", "ls"], {
    stdout: "pipe",
    stderr: "pipe",
  });
  const out = await new Response(p.stdout).text();
  await p.exited;
  const line = out.split("\n").find((l) => l.startsWith(`${image.ref} `));
  if (!line?.includes(image.manifestDigest))
    throw new Error(`after the pull, images ls has no ${image.ref} @ ${image.manifestDigest}:\n${out}`);
}

const rotated = <T>(xs: T[], by: number) => xs.map((_, i) => xs[(i + by) % xs.length]!);

type Results = Map<string, Timed[]>; // `${image} ${way}` → runs
const key = (image: BenchImage["name"], way: Way) => `${image} ${way}`;

async function measure(
  o: Options,
  images: BenchImage[],
  warmup: BenchImage | undefined,
  targets: Record<Way, Target>,
  ways: Way[],
  results: Results,
  versions: Map<Way, string>,
): Promise<void> {
  for (let run = 0; run < o.runs; run++) {
    for (const image of images) {
      for (const way of rotated(ways, run)) {
        const t = targets[way];
        try {
          const up = await t.start();
          versions.set(way, up.version);
          if (warmup) await pullOnce(way, up, warmup, o.source);
          const r = await pullOnce(way, up, image, o.source);
          await checkPulled(up, image);
          results.set(key(image.name, way), [...(results.get(key(image.name, way)) ?? []), r]);
          console.error(
            `[pull] run ${run + 1}/${o.runs} ${image.name} ${LABEL[way]}: ${fmt(r.ms, 0)} ms, daemon CPU ${fmt(r.daemonCpuMs, 0)} ms`,
          );
        } finally {
          await t.stop();
        }
      }
    }
  }
}

const mb = (bytes: number) => (Number.isNaN(bytes) ? "?" : `${fmt(bytes / 1e6, 1)} MB`);

function report(
  o: Options,
  images: BenchImage[],
  ways: Way[],
  results: Results,
  meta: {
    versions: Map<Way, string>;
    targets: Record<Way, Target>;
    load0: number[];
    load1: number[];
    ms: number;
    bctr: boolean;
  },
): string {
  const cell = (xs: number[], digits = 0) => {
    if (!xs.length) return { m: Number.NaN, text: "–" };
    const s = summarize(xs);
    return { m: s.median, text: `${fmt(s.median, digits)} (${fmt(s.min, digits)} – ${fmt(s.max, digits)})` };
  };
  const columns: Way[] = WAYS.filter((w) => ways.includes(w) || w === "bctr-bunkerd");
  const baseline = ways.includes("ctr-baseline");
  const header = [
    "image",
    "metric",
    ...columns.map((w) => LABEL[w]),
    "ctr: bunkerd/containerd",
    "containerd ctr / Transfer",
    "containerd ctr / bctr",
    ...(baseline ? ["ctr: bunkerd/baseline"] : []),
  ];
  const rows: string[][] = [];
  for (const image of images) {
    const of = (w: Way, f: (t: Timed) => number | undefined) =>
      (results.get(key(image.name, w)) ?? []).map(f).filter((x): x is number => x !== undefined);
    const wall = Object.fromEntries(columns.map((w) => [w, cell(of(w, (t) => t.ms))])) as Record<
      Way,
      ReturnType<typeof cell>
    >;
    const ratio = wall["ctr-bunkerd"].m / wall["ctr-containerd"].m;
    const speedup = (w: Way) => (wall["ctr-containerd"]?.m ?? Number.NaN) / (wall[w]?.m ?? Number.NaN);
    const verdict = (x: number, ok: boolean, goal: string) =>
      Number.isNaN(x) ? "–" : `${fmt(x, 2)} (${goal} ${ok ? "✓" : "✗"})`;
    const bctrCell = (text: string) => (meta.bctr ? text : "not yet");
    rows.push([
      `**${image.name}**`,
      "**wall (ms)**",
      ...columns.map((w) => (w === "bctr-bunkerd" ? bctrCell(wall[w].text) : wall[w].text)),
      verdict(ratio, ratio <= 1, "≤ 1.00"),
      Number.isNaN(speedup("transfer-bunkerd")) ? "–" : `${fmt(speedup("transfer-bunkerd"), 2)}×`,
      meta.bctr ? verdict(speedup("bctr-bunkerd"), speedup("bctr-bunkerd") >= 2, "≥ 2×") : "not yet",
      ...(baseline ? [fmt(wall["ctr-bunkerd"].m / wall["ctr-baseline"].m, 2)] : []),
    ]);
    rows.push([
      "",
      "daemon CPU (ms)",
      ...columns.map((w) =>
        w === "bctr-bunkerd" && !meta.bctr ? "not yet" : cell(of(w, (t) => t.daemonCpuMs)).text,
      ),
      fmt(
        cell(of("ctr-bunkerd", (t) => t.daemonCpuMs)).m / cell(of("ctr-containerd", (t) => t.daemonCpuMs)).m,
        2,
      ),
      "",
      "",
      ...(baseline
        ? [
            fmt(
              cell(of("ctr-bunkerd", (t) => t.daemonCpuMs)).m /
                cell(of("ctr-baseline", (t) => t.daemonCpuMs)).m,
              2,
            ),
          ]
        : []),
    ]);
    rows.push([
      "",
      "client CPU (ms)",
      ...columns.map((w) =>
        w === "transfer-bunkerd"
          ? "(in the bench)"
          : w === "bctr-bunkerd" && !meta.bctr
            ? "not yet"
            : cell(of(w, (t) => t.clientCpuMs)).text,
      ),
      "",
      "",
      "",
      ...(baseline ? [""] : []),
    ]);
  }
  const kernel = Bun.spawnSync(["uname", "-r"]).stdout.toString().trim();
  const avg = (xs: number[]) => xs.map((x) => x.toFixed(2)).join(" ");
  const lines = [
    `# bench pull — ${new Date().toISOString()}`,
    "",
    `bunkerd tree: ${gitRevision()}`,
    `machine: ${cpus().length} CPUs (${cpus()[0]?.model ?? "?"}), kernel ${kernel}; bun ${Bun.version}, ${Bun.spawnSync(["ctr", "--version"]).stdout.toString().trim()}`,
    `load average (1/5/15 min) before: ${avg(meta.load0)}, after: ${avg(meta.load1)}`,
    "registry: Debian's docker-registry on 127.0.0.1, plain http; images pushed once with skopeo (untimed):",
    ...images.map(
      (i) =>
        `- ${i.name}: ${i.layers} layer${i.layers > 1 ? "s" : ""}, ${mb(i.compressed)} gzip, ${mb(i.uncompressed)} unpacked (${i.manifestDigest.slice(0, 19)}…)`,
    ),
    "ways (each pull on a fresh daemon with a fresh root, one daemon at a time, interleaved in rotating order):",
    ...columns.map((w) => {
      const t = meta.targets[w];
      const how =
        w === "transfer-bunkerd"
          ? "one Transfer/Transfer call (OCIRegistry → ImageStore, unpack linux/amd64) from a Connect client in the bench"
          : w === "bctr-bunkerd"
            ? meta.bctr
              ? `bctr images pull --plain-http (${o.source ? "bin/bctr, from source" : "compiled with bun build --compile"}; bctr uses the daemon's Transfer service)`
              : "not yet: bin/bctr has no images pull"
            : "ctr images pull --plain-http (Go ctr, client-side pull)";
      return `- ${LABEL[w]}: ${how}; daemon ${meta.versions.get(w) ?? ""} ${t.description}`;
    }),
    o.warm
      ? "--warm: each fresh daemon first pulls a one-file image the same way (untimed), so the timed pull is not the first after boot."
      : "cold: the timed pull is the first the fresh daemon serves (bunkerd's lazily loaded modules and JIT warm-up are inside it; --warm takes them out).",
    `runs: ${o.runs} per image and way. Cells: median (min – max); ratios of the medians. wall = client spawn to exit (Go's start included) or the Transfer call; daemon CPU = user+system of all its threads over the pull (10 ms ticks); client CPU from the client's rusage.`,
    "",
    markdownTable(header, rows),
    "",
    "Targets (issue 5): ctr → bunkerd no slower than ctr → containerd (ratio ≤ 1.00); bctr → bunkerd at least 2× faster than ctr → containerd.",
    "",
    `scenario wall time: ${(meta.ms / 1000).toFixed(1)} s`,
  ];
  return lines.join("\n");
}

/** The commit and how many files differ from it (read-only git commands). */
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

/** Syscall counts of one ctr pull into a fresh daemon, from `strace -c -f -p`. */
async function straced(t: Target, image: BenchImage, warmup: BenchImage | undefined): Promise<string> {
  const up = await t.start();
  if (warmup) await ctrPull(up, warmup.ref);
  const out = join(up.dir, "strace.txt");
  try {
    const s = Bun.spawn(["strace", "-c", "-f", "-o", out, "-p", String(up.pid)], {
      stdout: "ignore",
      stderr: "pipe",
    });
    await Bun.sleep(300); // strace attaches to every thread
    const r = await ctrPull(up, image.ref);
    s.kill("SIGINT");
    await s.exited;
    const text = await Bun.file(out).text();
    const lines = text.split("\n");
    const head = lines.slice(0, 2);
    const body = lines.slice(2).filter((l) => /^\s*\d/.test(l));
    const total = lines.find((l) => l.includes("total")) ?? "";
    return [
      `### ${t.name}: ctr pull of ${image.name} under strace (${fmt(r.ms, 0)} ms, slowed by strace)`,
      "",
      "```text",
      ...head,
      ...body.slice(0, 15),
      total,
      "```",
    ].join("\n");
  } finally {
    await t.stop();
  }
}

/** One ctr pull through the recording proxy: every gRPC call with its start and end. */
async function traced(t: Target, image: BenchImage, warmup: BenchImage | undefined): Promise<string> {
  const up = await t.start();
  try {
    if (warmup) await ctrPull(up, warmup.ref);
    const tracer = startTracer(join(up.dir, "trace.sock"), up.address);
    let r: Timed;
    try {
      r = await ctrPull(up, image.ref, tracer.path);
    } finally {
      tracer.stop();
    }
    const calls = [...tracer.calls].sort((a, b) => a.start - b.start);
    const short = (m: string) => m.replace(/^\/containerd\.services\./, "").replace(/\.v1\./, ".");
    const rows = calls.map((c) => [
      fmt(c.start, 1),
      c.end === undefined ? "open" : fmt(c.end, 1),
      c.end === undefined ? "–" : fmt(c.end - c.start, 1),
      short(c.method),
      String(c.bytesIn),
      String(c.bytesOut),
    ]);
    const sum = summarizeCalls(calls).map(([m, x]) => [
      short(m),
      String(x.n),
      fmt(x.totalMs, 1),
      fmt(x.maxMs, 1),
      String(x.bytesIn),
      String(x.bytesOut),
    ]);
    return [
      `### ${t.name}: ctr pull of ${image.name}, ${calls.length} calls, ${fmt(r.ms, 0)} ms wall${warmup ? " (after a warm-up pull)" : ""}`,
      "",
      markdownTable(
        ["method", "calls", "sum of durations (ms)", "longest (ms)", "bytes in", "bytes out"],
        sum,
      ),
      "",
      markdownTable(["start (ms)", "end (ms)", "took (ms)", "method", "bytes in", "bytes out"], rows),
    ].join("\n");
  } finally {
    await t.stop();
  }
}

async function profile(o: Options, image: BenchImage, warmup: BenchImage | undefined): Promise<void> {
  const dir = mkdtempSync("/tmp/bench-cpuprof-");
  const jscDir = join(dir, "jsc");
  Bun.spawnSync(["mkdir", "-p", jscDir]);
  const t = bunkerd({
    cpuProfileDir: dir,
    env: {
      BUN_JSC_useSamplingProfiler: "1",
      BUN_JSC_samplingProfilerPath: jscDir,
      BUN_JSC_samplingProfilerTopFunctionsCount: "30",
      BUN_JSC_sampleInterval: "10000",
    },
  });
  let threads: ThreadCpu[] = [];
  let mainTid = 0;
  const walls: number[] = [];
  try {
    const up = await t.start();
    mainTid = up.pid;
    if (warmup) await ctrPull(up, warmup.ref);
    // Thread CPU over the pulls alone, not the images rm --sync (and its collection) between.
    const total = new Map<number, ThreadCpu>();
    for (let i = 0; i < o.profileRuns; i++) {
      const before = threadCpuOf(up.pid);
      const r = await ctrPull(up, image.ref);
      for (const x of threadCpuOf(up.pid)) {
        const d = x.cpuMs - (before.find((b) => b.tid === x.tid)?.cpuMs ?? 0);
        const acc = total.get(x.tid) ?? { ...x, cpuMs: 0 };
        acc.cpuMs += d;
        total.set(x.tid, acc);
      }
      walls.push(r.ms);
      console.error(`[pull] profiled pull ${i + 1}/${o.profileRuns}: ${fmt(r.ms, 0)} ms`);
      const rm = Bun.spawnSync([
        "ctr",
        "--address",
        up.address,
        "--namespace",
        NAMESPACE,
        "images",
        "rm",
        "--sync",
        image.ref,
      ]);
      if (rm.exitCode !== 0) throw new Error(`ctr images rm: ${rm.stderr}`);
    }
    threads = [...total.values()].filter((x) => x.cpuMs > 0).sort((x, y) => y.cpuMs - x.cpuMs);
  } finally {
    await t.stop();
  }
  console.log(
    `## bunkerd (from source) under bun --cpu-prof and JSC's sampling profiler: ${warmup ? "a warm-up pull, then " : ""}${o.profileRuns} ctr pulls of ${image.name} (profiled; walls ${walls.map((w) => fmt(w, 0)).join(", ")} ms; images rm --sync between)\n`,
  );
  console.log(
    `CPU time by thread, summed over the ${o.profileRuns} pulls (/proc/PID/task/*/stat, 10 ms ticks; ${warmup ? "after an untimed warm-up pull; " : ""}not the images rm between):\n`,
  );
  console.log(
    `${markdownTable(
      ["thread", "CPU (ms)"],
      threads.map((x) => [x.tid === mainTid ? `${x.name} (main)` : x.name, fmt(x.cpuMs, 0)]),
    )}\n`,
  );
  const file = readdirSync(dir).find((f) => f.endsWith(".cpuprofile"));
  if (file) {
    console.log(`main thread (boot included): ${join(dir, file)}\n`);
    console.log(`${formatProfile(summarizeProfile(join(dir, file), 20))}\n`);
  }
  const reports = readdirSync(jscDir)
    .filter((f) => f.startsWith("SamplingProfile"))
    .map((f) => summarizeJscSampling(join(jscDir, f)))
    .sort((x, y) => y.totalSamples - x.totalSamples);
  console.log(`JSC sampling reports, one per VM that ended in time (busiest first; ${jscDir}):`);
  for (const r of reports) console.log(`\n${formatJscSampling(r, 20)}`);
  if (Bun.which("strace")) {
    console.log("");
    console.log(await straced(bunkerd({ source: o.source, bin: o.bin }), image, warmup));
    console.log("");
    console.log(await straced(containerd(), image, warmup));
  }
}

export default async function pull(argv: string[]): Promise<void> {
  const o = parse(argv);
  for (const bin of ["ctr", "containerd", "skopeo"])
    if (!Bun.which(bin)) throw new Error(`${bin} not found on PATH`);
  if (!canRunRegistry()) throw new Error("needs /usr/bin/docker-registry and root");
  const work = mkdtempSync("/tmp/bench-pull-");
  const registry = await startRegistry();
  let cleanup = () => {};
  const removeWork = () => rmSync(work, { recursive: true, force: true });
  process.on("exit", removeWork);
  try {
    const t0 = performance.now();
    const wanted: BenchImage["name"][] = o.profile ? [o.profile] : o.trace ? [o.trace] : o.images;
    const built = await buildAndPush(work, registry.host, o.warm ? [...wanted, "warmup"] : wanted);
    const warmup = built.images.find((i) => i.name === "warmup");
    const measured = built.images.filter((i) => i.name !== "warmup");
    cleanup = built.cleanup;
    console.error(`[pull] images built and pushed in ${fmt((performance.now() - t0) / 1000, 1)} s (untimed)`);
    if (o.profile) return await profile(o, measured[0]!, warmup);
    if (o.trace) {
      const image = measured[0]!;
      console.log(
        `## gRPC calls of one ctr pull of ${image.name} (through a recording proxy; times from the proxy's start)\n`,
      );
      console.log(`${await traced(bunkerd({ source: o.source, bin: o.bin }), image, warmup)}\n`);
      console.log(await traced(containerd(), image, warmup));
      return;
    }

    const bctr = bctrReady();
    const ways = o.ways.filter((w) => (w !== "bctr-bunkerd" || bctr) && (w !== "ctr-baseline" || o.baseline));
    if (ways.includes("bctr-bunkerd")) bctrCommand(o.source); // compiled before any timing
    const bk = bunkerd({ source: o.source, bin: o.bin });
    const targets: Record<Way, Target> = {
      "ctr-bunkerd": bk,
      "ctr-containerd": containerd(),
      "transfer-bunkerd": bk,
      "bctr-bunkerd": bk,
      "ctr-baseline": bunkerd({ bin: o.baseline }),
    };
    const results: Results = new Map();
    const versions = new Map<Way, string>();
    const load0 = loadavg();
    const t1 = performance.now();
    await measure(o, measured, warmup, targets, ways, results, versions);
    console.log(
      report(o, measured, ways, results, {
        versions,
        targets,
        load0,
        load1: loadavg(),
        ms: performance.now() - t1,
        bctr,
      }),
    );
  } finally {
    cleanup();
    await registry.stop();
    removeWork();
  }
}
