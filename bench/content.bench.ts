/** Scenario `content`: content and metadata through the API, bunkerd against containerd 1.6 on
 *  the same machine in the same run, one daemon at a time.
 *
 *  - ingest: a 1 GiB blob of random bytes through the Go `ctr content ingest` (stdin from a file
 *    made once, untimed), with `--expected-digest`/`--expected-size`. Wall time and MiB/s.
 *  - get: `ctr content get` of a blob to /dev/null. ctr reads through a 32 KiB ReaderAt, so each
 *    32 KiB is one `Content/Read` call: the figure is per-call cost as much as bandwidth.
 *  - Images.List with 1,000 images in the namespace (created untimed over gRPC), at c=1 and 8.
 *  - Content.Info of one blob at c=1 and 32: in bunkerd a small request that crosses the content
 *    worker and the metadata worker, so it shows the cost of the hops.
 *
 *  Each run is one fresh daemon per target, targets interleaved in rotating order: setup
 *  (untimed), the load runs, one get, then the ingest last (its reset is the next fresh daemon).
 *  Containers.List is not measured: bunkerd has no Containers service until the runtime lands.
 *
 *  `--profile list|info|get|ingest` instead runs bunkerd once under `bun --cpu-prof` (main
 *  thread) and JSC's sampling profiler (every worker's VM) with that work, and prints the top
 *  self time and the CPU time of each thread (a diagnosis, not a timing run). */
import {
  closeSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  rmSync,
  statSync,
  writeSync,
} from "node:fs";
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { create, toBinary } from "@bufbuild/protobuf";
import { createDaemonTransport } from "@bunkerd/client";
import { InfoRequestSchema } from "@bunkerd/proto/containerd/services/content/v1/content_pb.ts";
import { Images } from "@bunkerd/proto/containerd/services/images/v1/images_pb.ts";
import { createClient } from "@connectrpc/connect";
import { cleanupDir, REPO } from "../test/harness/daemon.ts";
import {
  formatJscSampling,
  formatProfile,
  type JscSamplingSummary,
  summarizeJscSampling,
  summarizeProfile,
} from "./lib/cpuprofile.ts";
import { hasH2load, type LoadClient, type LoadResult, runLoad } from "./lib/load.ts";
import { cpuMsOf, type ThreadCpu, threadCpuOf } from "./lib/proc.ts";
import { fmt, fmtInt, markdownTable, summarize } from "./lib/stats.ts";
import { bunkerd, containerd, type Running, type Target } from "./lib/targets.ts";

export const usage = `bun bench/run.ts content [options]
  --runs N            runs per target, each on a fresh daemon (default 5)
  --ingest-mib N      size of the ingested blob in MiB (default 1024)
  --get-mib N         size of the blob read by ctr content get, MiB (default 64; ctr makes one
                      Read call per 32 KiB, so 1024 takes ~40 s per run on bunkerd)
  --images N          images in the namespace for Images.List (default 1000)
  --duration S        measured seconds per load run (default 1.5)
  --warmup S          warm-up seconds before each measured window (default 0.3)
  --list-concurrency L  comma-separated in-flight Images.List calls (default 1,8)
  --info-concurrency L  comma-separated in-flight Content.Info calls (default 1,32)
  --only P            comma-separated parts to run: ingest,get,list,info (default all)
  --source            run bunkerd from source (bin/bunkerd) instead of the compiled binary
  --profile W         profile bunkerd under one kind of work instead: list, info, get or ingest
                      (list/info: the last concurrency, h2load if installed, else the Node client)`;

const NAMESPACE = "bench";
const MiB = 1 << 20;
const LIST_METHOD = "/containerd.services.images.v1.Images/List";
const INFO_METHOD = "/containerd.services.content.v1.Content/Info";
const MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json";

// Blobs written with ctr content ingest belong to no image or lease, and the collector of either
// daemon may remove them at its next run. Keep it from running at all: nothing here needs it,
// and a collection in the middle of a load run would be noise.
const NO_GC = [
  "",
  '[plugins."io.containerd.gc.v1.scheduler"]',
  '  startup_delay = "1h"',
  "  mutation_threshold = 1000000",
  "  deletion_threshold = 1000000",
  "",
].join("\n");

type Part = "ingest" | "get" | "list" | "info";
const PARTS: Part[] = ["ingest", "get", "list", "info"];

interface Options {
  runs: number;
  ingestMiB: number;
  getMiB: number;
  images: number;
  durationS: number;
  warmupS: number;
  listConcurrency: number[];
  infoConcurrency: number[];
  parts: Set<Part>;
  source: boolean;
  profile?: Part;
}

function parse(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      runs: { type: "string", default: "5" },
      "ingest-mib": { type: "string", default: "1024" },
      "get-mib": { type: "string", default: "64" },
      images: { type: "string", default: "1000" },
      duration: { type: "string", default: "1.5" },
      warmup: { type: "string", default: "0.3" },
      "list-concurrency": { type: "string", default: "1,8" },
      "info-concurrency": { type: "string", default: "1,32" },
      only: { type: "string", default: PARTS.join(",") },
      source: { type: "boolean", default: false },
      profile: { type: "string" },
    },
  });
  const num = (name: string, v: string, min: number) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < min) throw new Error(`--${name}: expected a number ≥ ${min}, got ${v}`);
    return n;
  };
  const part = (name: string, v: string): Part => {
    if (!PARTS.includes(v as Part))
      throw new Error(`--${name}: expected one of ${PARTS.join(", ")}, got ${v}`);
    return v as Part;
  };
  const list = (name: string, v: string) => v.split(",").map((c) => num(name, c, 1));
  return {
    runs: num("runs", values.runs, 1),
    ingestMiB: num("ingest-mib", values["ingest-mib"], 1),
    getMiB: num("get-mib", values["get-mib"], 1),
    images: num("images", values.images, 1),
    durationS: num("duration", values.duration, 0.1),
    warmupS: num("warmup", values.warmup, 0),
    listConcurrency: list("list-concurrency", values["list-concurrency"]),
    infoConcurrency: list("info-concurrency", values["info-concurrency"]),
    parts: new Set(values.only.split(",").map((p) => part("only", p))),
    source: values.source,
    profile: values.profile === undefined ? undefined : part("profile", values.profile),
  };
}

/** A blob on disk for ctr's stdin, with its digest. */
interface Blob {
  path: string;
  digest: string;
  size: number;
}

/** Two files of random bytes, made once per bench run, untimed: the ingest blob and the get
 *  blob. Independent bytes, so the digests differ even at the same size (an ingest of a blob
 *  the setup already stored would finish at once). Without an ingest part only the get blob is
 *  made, and stands in for both. */
function makeBlobs(dir: string, o: { ingestMiB: number; getMiB: number; ingesting: boolean }) {
  const make = (name: string, mib: number): Blob => {
    const path = join(dir, `${name}-${mib}MiB.bin`);
    const hash = new Bun.CryptoHasher("sha256");
    const chunk = new Uint8Array(MiB);
    const fd = openSync(path, "w");
    try {
      for (let i = 0; i < mib; i++) {
        // getRandomValues fills at most 64 KiB per call.
        for (let j = 0; j < MiB; j += 65536) crypto.getRandomValues(chunk.subarray(j, j + 65536));
        hash.update(chunk);
        writeSync(fd, chunk);
      }
    } finally {
      closeSync(fd);
    }
    return { path, digest: `sha256:${hash.digest("hex")}`, size: mib * MiB };
  };
  const get = make("get", o.getMiB);
  return { ingest: o.ingesting ? make("ingest", o.ingestMiB) : get, get };
}

/** Runs the Go ctr against a daemon in the bench namespace; resolves with its wall time in ms. */
async function ctr(
  up: Running,
  args: string[],
  io: { stdin?: Blob } = {},
): Promise<{ ms: number; code: number | null; stderr: string }> {
  const argv = ["ctr", "--address", up.address, "--namespace", NAMESPACE, ...args];
  const t0 = performance.now();
  const p = Bun.spawn(argv, {
    stdin: io.stdin ? Bun.file(io.stdin.path) : "ignore",
    stdout: "ignore", // /dev/null
    stderr: "pipe",
  });
  const timer = setTimeout(() => p.kill("SIGKILL"), 600_000);
  const [code, stderr] = await Promise.all([p.exited, new Response(p.stderr).text()]);
  const ms = performance.now() - t0;
  clearTimeout(timer);
  if (code !== 0) throw new Error(`${argv.join(" ")} exited ${code}: ${stderr.trim()}`);
  return { ms, code, stderr };
}

const ingestArgs = (b: Blob, ref: string) => [
  "content",
  "ingest",
  "--expected-digest",
  b.digest,
  "--expected-size",
  String(b.size),
  ref,
];

/** Where both daemons keep a committed blob; a cheap check that an ingest really wrote it. */
function checkBlobOnDisk(up: Running, b: Blob): void {
  const path = join(
    up.dir,
    "root/io.containerd.content.v1.content/blobs/sha256",
    b.digest.slice("sha256:".length),
  );
  const size = statSync(path, { throwIfNoEntry: false })?.size;
  if (size !== b.size) throw new Error(`after ingest: ${path} has ${size ?? "no"} bytes, expected ${b.size}`);
}

/** Untimed: the get blob (also the images' target and the Info subject), then `n` images over
 *  Images.Create, 32 in flight, checked with one Images.List. */
async function setup(up: Running, get: Blob, n: number): Promise<void> {
  await ctr(up, ingestArgs(get, "bench-get"), { stdin: get });
  checkBlobOnDisk(up, get);
  const images = createClient(
    Images,
    createDaemonTransport(up.address, { namespace: NAMESPACE, timeoutMs: 30_000 }),
  );
  const target = { mediaType: MANIFEST_TYPE, digest: get.digest, size: BigInt(get.size) };
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < n; i = next++) {
      const name = `registry.example.com/bench/image-${String(i).padStart(4, "0")}:latest`;
      await images.create({ image: { name, target } });
    }
  };
  await Promise.all(Array.from({ length: Math.min(32, n) }, worker));
  const listed = (await images.list({})).images.length;
  if (listed !== n) throw new Error(`Images.List returned ${listed} images after creating ${n}`);
}

/** One load configuration: which method, how many calls in flight. */
interface LoadSpec {
  part: "list" | "info";
  c: number;
}
const keyOf = (s: LoadSpec) => `${s.part} c=${s.c}`;

function loadSpecs(o: Options): LoadSpec[] {
  const out: LoadSpec[] = [];
  if (o.parts.has("list")) out.push(...o.listConcurrency.map((c) => ({ part: "list" as const, c })));
  if (o.parts.has("info")) out.push(...o.infoConcurrency.map((c) => ({ part: "info" as const, c })));
  return out;
}

const requestOf = (s: LoadSpec, get: Blob) =>
  s.part === "list"
    ? { method: LIST_METHOD, message: new Uint8Array(0) } // ListImagesRequest{}: all images
    : {
        method: INFO_METHOD,
        message: toBinary(InfoRequestSchema, create(InfoRequestSchema, { digest: get.digest })),
      };

interface TimedCtr {
  ms: number;
  /** Daemon CPU time (all threads) while ctr ran, ms. */
  daemonCpuMs: number;
}

interface TargetResult {
  target: Target;
  version?: string;
  ingest: TimedCtr[];
  get: TimedCtr[];
  /** By keyOf(spec), one result per run. */
  load: Map<string, LoadResult[]>;
}

/** Rotates the order each run so no target always goes first (or right after another). */
const rotated = <T>(xs: T[], by: number) => xs.map((_, i) => xs[(i + by) % xs.length]!);

async function timedCtr(up: Running, args: string[], stdin?: Blob): Promise<TimedCtr> {
  const cpu0 = cpuMsOf(up.pid);
  const { ms } = await ctr(up, args, { stdin });
  return { ms, daemonCpuMs: cpuMsOf(up.pid) - cpu0 };
}

async function measure(
  o: Options,
  blobs: { ingest: Blob; get: Blob },
  results: TargetResult[],
  progress: (s: string) => void,
): Promise<void> {
  const needSetup = o.parts.has("get") || o.parts.has("list") || o.parts.has("info");
  for (let run = 0; run < o.runs; run++) {
    for (const r of rotated(results, run)) {
      const tag = `run ${run + 1}/${o.runs} ${r.target.name}`;
      try {
        const up = await r.target.start();
        r.version = up.version;
        if (needSetup) await setup(up, blobs.get, o.images);
        for (const spec of loadSpecs(o)) {
          const res = await runLoad("node", up.address, up.pid, {
            concurrency: spec.c,
            durationS: o.durationS,
            warmupS: o.warmupS,
            namespace: NAMESPACE,
            ...requestOf(spec, blobs.get),
          });
          r.load.set(keyOf(spec), [...(r.load.get(keyOf(spec)) ?? []), res]);
          progress(`${tag} ${keyOf(spec)}: ${fmtInt(res.callsPerSec)} calls/s`);
        }
        if (o.parts.has("get")) {
          const g = await timedCtr(up, ["content", "get", blobs.get.digest]);
          r.get.push(g);
          progress(`${tag} get ${o.getMiB} MiB: ${fmt(g.ms / 1000, 2)} s`);
        }
        if (o.parts.has("ingest")) {
          const i = await timedCtr(up, ingestArgs(blobs.ingest, `bench-ingest-${run}`), blobs.ingest);
          checkBlobOnDisk(up, blobs.ingest);
          r.ingest.push(i);
          progress(`${tag} ingest ${o.ingestMiB} MiB: ${fmt(i.ms / 1000, 2)} s`);
        }
      } finally {
        await r.target.stop(); // the reset: the next run starts on a fresh root
      }
    }
  }
}

function report(
  o: Options,
  results: TargetResult[],
  meta: { load0: number[]; load1: number[]; ms: number; blobs: { ingest: Blob; get: Blob } },
): string {
  const [bk, cd] = results as [TargetResult, TargetResult];
  const rows: string[][] = [];
  /** Cells show "median (min – max)"; the ratio is of the medians. */
  const add = (
    metric: string,
    samples: (r: TargetResult) => number[],
    show: (x: number) => string,
    check?: { le?: number; ge?: number },
  ) => {
    const cell = (r: TargetResult) => {
      const s = summarize(samples(r));
      if (s.n === 0) return { m: Number.NaN, text: "–" };
      return {
        m: s.median,
        text: s.n > 1 ? `${show(s.median)} (${show(s.min)} – ${show(s.max)})` : show(s.median),
      };
    };
    const a = cell(bk);
    const b = cell(cd);
    const ratio = a.m / b.m;
    let verdict = "";
    if (check?.le !== undefined) verdict = `≤ ${check.le.toFixed(2)} ${ratio <= check.le ? "✓" : "✗"}`;
    if (check?.ge !== undefined) verdict = `≥ ${check.ge.toFixed(2)} ${ratio >= check.ge ? "✓" : "✗"}`;
    rows.push([metric, a.text, b.text, fmt(ratio, 2), verdict]);
  };
  const mibps = (size: number) => (t: TimedCtr) => size / MiB / (t.ms / 1000);
  const s2 = (x: number) => fmt(x, 2);
  const s1 = (x: number) => fmt(x, 1);
  const s0 = (x: number) => fmt(x, 0);

  if (o.parts.has("ingest")) {
    const b = meta.blobs.ingest;
    add(`**ingest ${o.ingestMiB} MiB, wall (s)**`, (r) => r.ingest.map((t) => t.ms / 1000), s2, { le: 1 });
    add(`ingest throughput (MiB/s)`, (r) => r.ingest.map(mibps(b.size)), s0, { ge: 1 });
    add(`ingest daemon CPU (s)`, (r) => r.ingest.map((t) => t.daemonCpuMs / 1000), s2);
  }
  if (o.parts.has("get")) {
    const b = meta.blobs.get;
    add(`**get ${o.getMiB} MiB to /dev/null, wall (s)**`, (r) => r.get.map((t) => t.ms / 1000), s2);
    add(`get throughput (MiB/s)`, (r) => r.get.map(mibps(b.size)), s0);
    add(
      `get per 32 KiB Read call (ms)`,
      (r) => r.get.map((t) => t.ms / (b.size / 32768)),
      (x) => fmt(x, 3),
    );
    add(`get daemon CPU (s)`, (r) => r.get.map((t) => t.daemonCpuMs / 1000), s2);
  }
  const loads = (r: TargetResult, s: LoadSpec) => r.load.get(keyOf(s)) ?? [];
  for (const s of loadSpecs(o)) {
    const what = s.part === "list" ? `Images.List (${o.images} images)` : "Content.Info";
    const field =
      (k: "callsPerSec" | "p50Ms" | "p99Ms" | "daemonCpuUsPerCall" | "clientCpuPct") => (r: TargetResult) =>
        loads(r, s).map((l) => l[k] ?? Number.NaN);
    add(
      `**${what} calls/s, c=${s.c}**`,
      field("callsPerSec"),
      fmtInt,
      s.part === "list" ? { ge: 5 } : undefined,
    );
    add(`latency p50, c=${s.c} (ms)`, field("p50Ms"), (x) => fmt(x, 3));
    add(`latency p99, c=${s.c} (ms)`, field("p99Ms"), s2);
    add(`daemon CPU per call, c=${s.c} (µs)`, field("daemonCpuUsPerCall"), s0);
    add(`client CPU, c=${s.c} (% of a core)`, field("clientCpuPct"), s0);
    if (s.part === "list" && s.c === o.listConcurrency[0])
      add(
        "Images.List reply size (KiB)",
        (r) => loads(r, s).map((l) => (l.replyBytes ?? Number.NaN) / 1024),
        s1,
      );
  }
  const header = ["metric", "bunkerd", "containerd", "bunkerd/containerd", "target"];

  const kernel = Bun.spawnSync(["uname", "-r"]).stdout.toString().trim();
  const avg = (xs: number[]) => xs.map((x) => x.toFixed(2)).join(" ");
  const lines = [
    `# bench content — ${new Date().toISOString()}`,
    "",
    `bunkerd tree: ${gitRevision()}`,
    `machine: ${cpus().length} CPUs (${cpus()[0]?.model ?? "?"}), kernel ${kernel}; bun ${Bun.version}, node ${nodeVersion()}, ${ctrVersion()}`,
    `load average (1/5/15 min) before: ${avg(meta.load0)}, after: ${avg(meta.load1)}`,
    "targets (each on a fresh temp root/state/socket, one daemon at a time, collector off: startup_delay 1h, thresholds 1e6):",
    ...results.map((r) => `- ${r.target.name} ${r.version ?? ""}: ${r.target.description}`),
    `runs: ${o.runs} per target, each on a fresh daemon, targets interleaved in rotating order. Per daemon: ${steps(o).join(", then ")}.`,
    `ingest/get: wall time of the Go ctr process (spawn to exit, Go start included), stdin from a file of random bytes made once, get to /dev/null; MiB = 1024 × 1024 bytes. ctr content get reads through a 32 KiB ReaderAt: one Content/Read call per 32 KiB.`,
    `load: node bench/lib/grpc-load.mjs (Node 20, raw node:http2), one HTTP/2 connection, ${o.warmupS} s warm-up + ${o.durationS} s measured per run; Images.List with an empty request (all images), Content.Info of the get blob. Cells: median (min – max) over runs; the ratio is of the medians.`,
    "",
    markdownTable(header, rows),
    "",
    "Containers.List: not measured. bunkerd has no Containers service until the runtime lands.",
    "",
    "details:",
  ];
  for (const r of results) {
    lines.push(`- ${r.target.name}:`);
    if (r.ingest.length)
      lines.push(`  ingest s per run: ${r.ingest.map((t) => fmt(t.ms / 1000, 2)).join(", ")}`);
    if (r.get.length) lines.push(`  get s per run: ${r.get.map((t) => fmt(t.ms / 1000, 2)).join(", ")}`);
    for (const s of loadSpecs(o)) {
      const ls = loads(r, s);
      const each = ls
        .map((l) => `${fmtInt(l.callsPerSec)} (client CPU ${fmt(l.clientCpuPct, 0)}%)`)
        .join(", ");
      const errors = ls.filter((l) => l.errors).map((l) => `${l.errors} errors, last: ${l.lastError ?? "?"}`);
      lines.push(`  ${keyOf(s)}: calls/s per run ${each}${errors.length ? `; ${errors.join("; ")}` : ""}`);
    }
  }
  lines.push("", `scenario wall time: ${(meta.ms / 1000).toFixed(1)} s`);
  return lines.join("\n");
}

/** What each fresh daemon goes through, in order, for the report. */
function steps(o: Options): string[] {
  const out: string[] = [];
  if (o.parts.has("get") || o.parts.has("list") || o.parts.has("info"))
    out.push(
      `untimed setup (ctr content ingest of the ${o.getMiB} MiB get blob, ${o.images} × Images.Create over gRPC, 32 in flight, in namespace "${NAMESPACE}")`,
    );
  if (o.parts.has("list") || o.parts.has("info")) out.push("the load runs");
  if (o.parts.has("get")) out.push("one get");
  if (o.parts.has("ingest")) out.push("the ingest");
  return out;
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

function ctrVersion(): string {
  return Bun.spawnSync(["ctr", "--version"]).stdout.toString().trim() || "ctr ?";
}

/** bunkerd under the profilers, doing one kind of work, in two passes with the same work: first
 *  `bun --cpu-prof` (main thread only, with file locations), then JSC's own sampling profiler,
 *  which writes one report per VM, workers included. Together the two profilers skew the
 *  `.cpuprofile`'s time scale, hence two passes. The setup (get blob, images) runs once on an
 *  unprofiled bunkerd; the profiled ones start on the same root, so the profiles hold their boot
 *  and the work, not a thousand Images.Create. */
async function profile(o: Options, what: Part, blobs: { ingest: Blob; get: Blob }): Promise<void> {
  const dir = mkdtempSync("/tmp/bench-cpuprof-");
  const jscDir = join(dir, "jsc");
  mkdirSync(jscDir);
  const dataDirs: string[] = [];
  const removeData = () => {
    for (const d of dataDirs) cleanupDir(d);
  };
  process.on("exit", removeData);
  const freshDataDir = () => {
    dataDirs.push(mkdtempSync("/tmp/bench-bunkerd-profile-"));
    return dataDirs.at(-1)!;
  };
  try {
    let dataDir = freshDataDir();
    if (what !== "ingest") {
      const unprofiled = bunkerd({ source: o.source, extraConfig: NO_GC, dir: dataDir });
      try {
        await setup(await unprofiled.start(), blobs.get, o.images);
      } finally {
        await unprofiled.stop();
      }
    }
    const passes = ["cpu-prof", "jsc", "jsc", "jsc"] as const;
    for (const [i, pass] of passes.entries()) {
      // An ingest needs a root without the blob; the other work reads what the setup wrote.
      if (what === "ingest" && i > 0) dataDir = freshDataDir();
      for (const f of readdirSync(jscDir)) rmSync(join(jscDir, f), { force: true });
      const t = bunkerd({
        // The JSC pass runs under --cpu-prof too, into a directory nobody reads: the main thread
        // then writes its .cpuprofile at exit, which gives the workers' VMs a moment to write
        // their reports. bunkerd exits right after terminating its workers, and a VM that has
        // not finished ending by then writes nothing: with 1 ms samples the busy worker's report
        // was lost every time; with 10 ms ones most times it is written, else the pass repeats.
        cpuProfileDir: pass === "cpu-prof" ? dir : join(dir, "jsc-pass-cpuprofile"),
        extraConfig: NO_GC,
        dir: dataDir,
        env:
          pass === "jsc"
            ? {
                BUN_JSC_useSamplingProfiler: "1",
                BUN_JSC_samplingProfilerPath: jscDir,
                BUN_JSC_samplingProfilerTopFunctionsCount: "25",
                BUN_JSC_sampleInterval: "10000", // µs; see above
              }
            : undefined,
      });
      let threads: ThreadCpu[] = [];
      let line: string;
      let mainTid = 0;
      try {
        const up = await t.start();
        mainTid = up.pid;
        const before = threadCpuOf(up.pid);
        line = await profiledWork(o, what, up, blobs);
        const after = threadCpuOf(up.pid);
        threads = after
          .map((x) => ({ ...x, cpuMs: x.cpuMs - (before.find((b) => b.tid === x.tid)?.cpuMs ?? 0) }))
          .filter((x) => x.cpuMs > 0)
          .sort((x, y) => y.cpuMs - x.cpuMs);
      } finally {
        await t.stop(); // SIGTERM: bun writes the profiles as the VMs end
      }
      const reports = readdirSync(jscDir)
        .filter((f) => f.startsWith("SamplingProfile"))
        .map((f) => summarizeJscSampling(join(jscDir, f)))
        .sort((x, y) => y.totalSamples - x.totalSamples);
      if (pass === "jsc") {
        // bunkerd names its worker threads after their group: io.containerd.<type>.
        const busiest = threads.find((x) => x.tid !== mainTid && x.name.startsWith("io.containerd."));
        const busyMs = (r: JscSamplingSummary) => (r.totalSamples * r.intervalUs) / 1000;
        const lost = busiest && busiest.cpuMs >= 100 && !reports.some((r) => busyMs(r) >= busiest.cpuMs / 2);
        if (lost && i < passes.length - 1) {
          console.error(`[content] the ${busiest.name} worker's report was lost at exit; repeating the pass`);
          continue;
        }
      }
      const profiler = pass === "cpu-prof" ? "bun --cpu-prof" : "JSC's sampling profiler";
      console.log(`## bunkerd under ${profiler}: ${line} (profiled)\n`);
      console.log(
        "CPU time by thread during the work (/proc/PID/task/*/stat, 10 ms ticks; main thread first):\n",
      );
      const main = threads.filter((x) => x.tid === mainTid);
      const rest = threads.filter((x) => x.tid !== mainTid);
      const rows = [...main, ...rest].map((x) => [
        x.tid === mainTid ? `${x.name} (main)` : x.name,
        fmt(x.cpuMs, 0),
      ]);
      console.log(`${markdownTable(["thread", "CPU (ms)"], rows)}\n`);
      if (pass === "cpu-prof") {
        const file = readdirSync(dir).find((f) => f.endsWith(".cpuprofile"));
        if (!file) throw new Error(`no .cpuprofile written in ${dir}`);
        console.log(`main thread, boot included: ${join(dir, file)} (Chrome DevTools, speedscope).`);
        console.log("Each sample counts one 1 ms interval; the thread CPU above is the absolute measure.\n");
        console.log(`${formatProfile(summarizeProfile(join(dir, file), 20))}\n`);
      } else {
        console.log(
          `one report per VM that ended in time (main thread, workers; boot included), busiest first; in ${jscDir}:`,
        );
        for (const r of reports) console.log(`\n${formatJscSampling(r)}`);
        break;
      }
    }
  } finally {
    removeData();
  }
}

/** The work a profile watches; resolves with one line saying how it went. */
async function profiledWork(o: Options, what: Part, up: Running, blobs: { ingest: Blob; get: Blob }) {
  if (what === "list" || what === "info") {
    const concurrency = what === "list" ? o.listConcurrency : o.infoConcurrency;
    const spec: LoadSpec = { part: what, c: concurrency.at(-1) ?? 1 };
    const client: LoadClient = hasH2load() ? "h2load" : "node";
    const res = await runLoad(client, up.address, up.pid, {
      concurrency: spec.c,
      durationS: Math.max(o.durationS, 5),
      warmupS: o.warmupS,
      namespace: NAMESPACE,
      ...requestOf(spec, blobs.get),
    });
    const cost = `daemon CPU ${fmt(res.daemonCpuUsPerCall, 0)} µs/call`;
    return `${client} ${keyOf(spec)}, ${Math.max(o.durationS, 5)} s: ${fmtInt(res.callsPerSec)} calls/s, ${cost}`;
  }
  const get = what === "get";
  const args = get ? ["content", "get", blobs.get.digest] : ingestArgs(blobs.ingest, "bench-ingest");
  const r = await timedCtr(up, args, get ? undefined : blobs.ingest);
  const mib = get ? o.getMiB : o.ingestMiB;
  return `ctr content ${what} ${mib} MiB: ${fmt(r.ms / 1000, 2)} s, daemon CPU ${fmt(r.daemonCpuMs / 1000, 2)} s`;
}

export default async function content(argv: string[]): Promise<void> {
  const o = parse(argv);
  for (const bin of ["ctr", "node"]) if (!Bun.which(bin)) throw new Error(`${bin} not found on PATH`);
  const inputDir = mkdtempSync("/tmp/bench-content-input-");
  // Also on Ctrl-C: run.ts exits the process after stopping the daemons.
  const removeInput = () => rmSync(inputDir, { recursive: true, force: true });
  process.on("exit", removeInput);
  try {
    const t0 = performance.now();
    const ingesting = o.profile ? o.profile === "ingest" : o.parts.has("ingest");
    const blobs = makeBlobs(inputDir, { ingestMiB: o.ingestMiB, getMiB: o.getMiB, ingesting });
    console.error(`[content] random blobs made in ${fmt((performance.now() - t0) / 1000, 1)} s (untimed)`);
    if (o.profile) return await profile(o, o.profile, blobs);
    const targets: Target[] = [
      bunkerd({ source: o.source, extraConfig: NO_GC }),
      containerd({ extraConfig: NO_GC }),
    ];
    const results: TargetResult[] = targets.map((target) => ({
      target,
      ingest: [],
      get: [],
      load: new Map(),
    }));
    const load0 = loadavg();
    const t1 = performance.now();
    await measure(o, blobs, results, (s) => console.error(`[content] ${s}`));
    console.log(report(o, results, { load0, load1: loadavg(), ms: performance.now() - t1, blobs }));
  } finally {
    removeInput();
  }
}
