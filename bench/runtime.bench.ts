/** Scenario `runtime`: the cost of running a container, issue 6's figures, in one run:
 *  - latency: `ctr run --rm busybox true` through containerd 1.6 and through bunkerd, each with
 *    containerd's shim (`io.containerd.runc.v2`) and with ours (`io.containerd.bunker.v2`), beside
 *    a bare `runc run` of the same rootfs; overhead = median − bare runc's median;
 *  - density: N × `ctr run -d busybox ID sleep 3600` on a fresh daemon: each start's time, then the
 *    PSS of the daemon and all shims (containers' processes apart);
 *  - profile: traced `ctr run --rm` runs (gRPC calls from ctr's side, per-method server time from
 *    /v1/metrics, runc and shim execs timed by wrappers) cut into phases.
 *  Daemons run one at a time on fresh temp roots; a pair that cannot run prints
 *  "not available: <reason>" instead of figures. */
import { readFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { parseArgs } from "node:util";
import { REPO } from "../test/harness/daemon.ts";
import { startTracer } from "./lib/grpc-trace.ts";
import {
  ctr,
  type DaemonChoice,
  type DaemonKind,
  IMAGE,
  killAllLeftovers,
  type RuntimeDaemon,
  startRuntimeDaemon,
} from "./lib/runtime-daemons.ts";
import {
  callsToEpoch,
  diffServerTimes,
  freePort,
  makeWrappers,
  medianPhases,
  methodTimes,
  metricsConfig,
  type ProfiledRun,
  scrapeServerTimes,
  type ServerTimes,
  shimLogEvents,
  timeline,
} from "./lib/runtime-profile.ts";
import { makeRuncBundle, type RuncBundle } from "./lib/runtime-runc.ts";
import {
  BUNKER_SHIM,
  bunkerShimDir,
  RUNC_SHIM,
  type RuntimeMemory,
  runtimeMemory,
} from "./lib/runtime-shims.ts";
import { fmt, kbToMiB, markdownTable, median, summarize } from "./lib/stats.ts";

export const usage = `bun bench/run.ts runtime [options]
  --runs N           timed ctr run --rm per daemon+shim pair, after the warm-up (default 10)
  --warmup N         untimed runs per pair first; the first one also tells whether it works (default 2)
  --density N        containers started with ctr run -d per pair (default 20)
  --profile-runs N   traced runs per pair for the breakdown (default 5)
  --only L           comma-separated parts: latency,density,profile (default all)
  --daemons L        comma-separated: containerd,bunkerd (default both)
  --shims L          comma-separated: runc-v2,bunker (default both)
  --source           bunkerd from source (bin/bunkerd) instead of a compiled one
  --bunkerd-bin P    this bunkerd binary (e.g. /usr/local/bin/bunkerd) instead of the tree compiled
                     now with bun build --compile (the default, as in the other scenarios)
  --shim-source      containerd-shim-bunker-v2 from source (bin/ launcher, bun on apps/shim)
  --shim-bin P       this containerd-shim-bunker-v2 binary instead of the tree compiled now`;

interface Options {
  runs: number;
  warmup: number;
  density: number;
  profileRuns: number;
  only: Set<string>;
  daemons: DaemonKind[];
  shims: string[];
  daemon: DaemonChoice;
  shim: { source?: boolean; bin?: string };
}

function parse(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      runs: { type: "string", default: "10" },
      warmup: { type: "string", default: "2" },
      density: { type: "string", default: "20" },
      "profile-runs": { type: "string", default: "5" },
      only: { type: "string", default: "latency,density,profile" },
      daemons: { type: "string", default: "containerd,bunkerd" },
      shims: { type: "string", default: "runc-v2,bunker" },
      source: { type: "boolean", default: false },
      "bunkerd-bin": { type: "string" },
      "shim-source": { type: "boolean", default: false },
      "shim-bin": { type: "string" },
    },
  });
  const int = (name: string, v: string, min: number) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer ≥ ${min}, got ${v}`);
    return n;
  };
  const list = (name: string, v: string, allowed: string[]) => {
    const xs = v.split(",").filter(Boolean);
    for (const x of xs)
      if (!allowed.includes(x)) throw new Error(`--${name}: unknown ${x} (${allowed.join(", ")})`);
    return xs;
  };
  return {
    runs: int("runs", values.runs!, 1),
    warmup: int("warmup", values.warmup!, 1),
    density: int("density", values.density!, 1),
    profileRuns: int("profile-runs", values["profile-runs"]!, 1),
    only: new Set(list("only", values.only!, ["latency", "density", "profile"])),
    daemons: list("daemons", values.daemons!, ["containerd", "bunkerd"]) as DaemonKind[],
    shims: list("shims", values.shims!, ["runc-v2", "bunker"]).map((s) =>
      s === "bunker" ? BUNKER_SHIM : RUNC_SHIM,
    ),
    daemon: { source: values.source, bin: values["bunkerd-bin"] },
    shim: { source: values["shim-source"], bin: values["shim-bin"] },
  };
}

const pairName = (kind: DaemonKind, shim: string) =>
  `${kind} + ${shim === BUNKER_SHIM ? "containerd-shim-bunker-v2" : "containerd-shim-runc-v2"}`;

/** What we learned about one daemon+shim pair: figures or why there are none. */
interface Pair {
  kind: DaemonKind;
  shim: string;
  unavailable?: string;
  runs: number[];
  density?: { startMs: number[]; idle: RuntimeMemory; full: RuntimeMemory };
  densityUnavailable?: string;
  profile?: { runs: ProfiledRun[]; server: ServerTimes };
  profileUnavailable?: string;
}

/** Processes (shims, containers) the teardowns had to kill: 0 when every run cleaned up after itself. */
let leftovers = 0;

const progress = (s: string) => console.error(`runtime: ${s}`);
const reason = (e: unknown) => (e instanceof Error ? e.message : String(e)).split("\n")[0]!.slice(0, 200);
const ctrReason = (r: { code: number | null; stderr: string }) =>
  `ctr exited ${r.code}: ${r.stderr.split("\n").at(-1)?.slice(0, 200) ?? ""}`;

/** Temp dirs (runc bundle, shim binary, exec wrappers) still to remove; Ctrl-C removes them too,
 *  as run.ts exits before the scenario's own finally blocks run. */
const temps = new Set<{ cleanup(): void }>();
function temp<T extends { cleanup(): void }>(t: T): T {
  temps.add(t);
  return t;
}
function untemp(t: { cleanup(): void }): void {
  temps.delete(t);
  t.cleanup();
}

let seq = 0;
const newId = (what: string) => `bench-${what}-${process.pid}-${++seq}`;

async function latency(o: Options, pairs: Pair[], runc: RuncBundle, runcMs: number[], shimPath: string[]) {
  for (const kind of o.daemons) {
    const mine = pairs.filter((p) => p.kind === kind);
    let d: RuntimeDaemon;
    try {
      progress(`latency: starting ${kind}`);
      d = await startRuntimeDaemon(kind, o.daemon, { path: shimPath });
    } catch (e) {
      for (const p of mine) p.unavailable = `${kind} did not start: ${reason(e)}`;
      continue;
    }
    try {
      const address = d.running.address;
      for (const p of mine) {
        for (let i = 0; i < o.warmup && !p.unavailable; i++) {
          const r = await ctr(address, ["run", "--rm", "--runtime", p.shim, IMAGE, newId("warm"), "true"]);
          if (r.code !== 0) p.unavailable = ctrReason(r);
        }
      }
      await runc.run(); // warm-up
      const live = mine.filter((p) => !p.unavailable);
      for (let i = 0; i < o.runs; i++) {
        // Rotate the order each round so no pair always follows the same one.
        const jobs: (() => Promise<void>)[] = [
          async () => void runcMs.push(await runc.run()),
          ...live.map((p) => async () => {
            if (p.unavailable) return;
            const r = await ctr(address, ["run", "--rm", "--runtime", p.shim, IMAGE, newId("rm"), "true"]);
            if (r.code !== 0) p.unavailable = `failed in run ${i + 1}: ${ctrReason(r)}`;
            else p.runs.push(r.ms);
          }),
        ];
        for (let j = 0; j < jobs.length; j++) await jobs[(i + j) % jobs.length]!();
        progress(`latency ${kind}: round ${i + 1}/${o.runs}`);
      }
    } finally {
      leftovers += await d.stop();
    }
  }
}

async function density(o: Options, pairs: Pair[], shimPath: string[]) {
  for (const p of pairs) {
    if (p.unavailable) {
      p.densityUnavailable = p.unavailable;
      continue;
    }
    let d: RuntimeDaemon;
    try {
      progress(`density: starting ${pairName(p.kind, p.shim)}`);
      d = await startRuntimeDaemon(p.kind, o.daemon, { path: shimPath });
    } catch (e) {
      p.densityUnavailable = `${p.kind} did not start: ${reason(e)}`;
      continue;
    }
    const ids: string[] = [];
    try {
      const address = d.running.address;
      await Bun.sleep(500);
      const idle = runtimeMemory(d.running.pid, address);
      const startMs: number[] = [];
      for (let i = 0; i < o.density; i++) {
        const id = newId("sleep");
        ids.push(id);
        const r = await ctr(address, ["run", "-d", "--runtime", p.shim, IMAGE, id, "sleep", "3600"]);
        if (r.code !== 0) throw new Error(`container ${i + 1}: ${ctrReason(r)}`);
        startMs.push(r.ms);
      }
      await Bun.sleep(1000); // let start-up garbage settle before reading memory
      const full = runtimeMemory(d.running.pid, address);
      p.density = { startMs, idle, full };
      progress(
        `density ${pairName(p.kind, p.shim)}: ${full.shims} shims, ${fmt(kbToMiB(full.daemonPssKb + full.shimsPssKb))} MiB`,
      );
      for (const id of ids) {
        await ctr(address, ["tasks", "rm", "-f", id]);
        await ctr(address, ["containers", "rm", id]);
      }
    } catch (e) {
      p.densityUnavailable = reason(e);
    } finally {
      leftovers += await d.stop();
    }
  }
}

/** The floor under each exec the runtime makes: the binary started and exited with nothing to do
 *  (`-v` / `--version`), median wall time in ms. Tells a shim's own start-up from its work. */
async function execFloors(o: Options, shimDir: string): Promise<[string, number[]][]> {
  const bins: [string, string[]][] = [
    ["runc --version", ["runc", "--version"]],
    ["containerd-shim-runc-v2 -v", ["containerd-shim-runc-v2", "-v"]],
    ["containerd-shim-bunker-v2 -v", [`${shimDir}/containerd-shim-bunker-v2`, "-v"]],
  ];
  const out: [string, number[]][] = [];
  for (const [name, argv] of bins) {
    const xs: number[] = [];
    for (let i = 0; i <= o.runs; i++) {
      const t0 = performance.now();
      const p = Bun.spawn(argv, { stdin: "ignore", stdout: "ignore", stderr: "ignore" });
      if ((await p.exited) !== 0) break;
      if (i > 0) xs.push(performance.now() - t0); // the first is the warm-up
    }
    out.push([name, xs]);
  }
  return out;
}

async function profile(o: Options, pairs: Pair[], shimDir: string) {
  for (const kind of o.daemons) {
    const mine = pairs.filter((p) => p.kind === kind && !p.unavailable);
    for (const p of pairs) if (p.kind === kind && p.unavailable) p.profileUnavailable = p.unavailable;
    if (!mine.length) continue;
    const wrappers = temp(
      makeWrappers(["runc", "containerd-shim-runc-v2", "containerd-shim-bunker-v2"], [shimDir]),
    );
    const port = freePort();
    let d: RuntimeDaemon | undefined;
    try {
      progress(`profile: starting ${kind}`);
      d = await startRuntimeDaemon(kind, o.daemon, {
        path: [wrappers.dir, shimDir],
        extraConfig: `\n${metricsConfig(port)}`,
      });
      const address = d.running.address;
      const proxy = `${d.running.dir}/trace.sock`;
      const logPath = `${d.running.dir}/daemon.log`; // targets.ts sends the daemon's output there
      for (const p of mine) {
        try {
          const w = await ctr(address, ["run", "--rm", "--runtime", p.shim, IMAGE, newId("pwarm"), "true"]);
          if (w.code !== 0) throw new Error(ctrReason(w));
          await Bun.sleep(200);
          wrappers.take();
          let logOffset = readFileSync(logPath).length;
          const before = await scrapeServerTimes(port);
          const runs: ProfiledRun[] = [];
          for (let i = 0; i < o.profileRuns; i++) {
            const t0 = performance.now();
            const tracer = startTracer(proxy, address);
            try {
              const spawn = performance.timeOrigin + performance.now();
              const r = await ctr(proxy, ["run", "--rm", "--runtime", p.shim, IMAGE, newId("prof"), "true"]);
              const exit = spawn + r.ms;
              if (r.code !== 0) throw new Error(ctrReason(r));
              await Bun.sleep(200); // a shim `delete` or late exec still logging
              const log = readFileSync(logPath);
              const events = shimLogEvents(log.subarray(logOffset).toString());
              logOffset = log.length;
              const execs = [...wrappers.take(), ...events];
              runs.push({ spawn, exit, calls: callsToEpoch(tracer.calls, t0), execs });
            } finally {
              tracer.stop();
            }
          }
          const after = await scrapeServerTimes(port);
          p.profile = { runs, server: diffServerTimes(before, after) };
          progress(`profile ${pairName(p.kind, p.shim)}: ${runs.length} runs`);
        } catch (e) {
          p.profileUnavailable = reason(e);
        }
      }
    } catch (e) {
      for (const p of mine) p.profileUnavailable = `${kind} did not start: ${reason(e)}`;
    } finally {
      if (d) {
        leftovers += await d.stop();
      }
      untemp(wrappers);
    }
  }
}

function version(cmd: string[]): string {
  const r = Bun.spawnSync(cmd, { stdout: "pipe", stderr: "pipe" });
  return r.stdout.toString().split("\n")[0]!.trim();
}

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

const cell = (xs: number[]) => {
  if (!xs.length) return "–";
  const s = summarize(xs);
  return `${fmt(s.median)} (${fmt(s.min)} – ${fmt(s.max)})`;
};
const mib = (kb: number) => fmt(kbToMiB(kb));
/** Issue 6's targets: at most half of containerd + runc-v2's figure (none without that baseline). */
const verdict = (ratio: number) =>
  Number.isNaN(ratio) ? "≤ 0.50 (no baseline)" : `≤ 0.50 ${ratio <= 0.5 ? "✓" : "✗"}`;

function report(
  o: Options,
  pairs: Pair[],
  runcMs: number[],
  meta: {
    load0: number[];
    load1: number[];
    ms: number;
    daemonDesc: string;
    shimDesc: string;
    floors: [string, number[]][];
  },
): string {
  const out: string[] = [];
  out.push(
    `### runtime: \`ctr run\` through containerd and bunkerd, with each shim, beside bare runc`,
    "",
    `- date: ${new Date().toISOString()}, ${cpus().length} CPUs (${cpus()[0]?.model ?? "?"}), bunkerd ${gitRevision()}`,
    `- load average before / after: ${meta.load0.map((x) => x.toFixed(2)).join(" ")} / ${meta.load1.map((x) => x.toFixed(2)).join(" ")}; run took ${(meta.ms / 1000).toFixed(0)} s`,
    `- bunkerd: ${meta.daemonDesc}`,
    `- containerd-shim-bunker-v2: ${meta.shimDesc}`,
    `- ${version(["containerd", "--version"])}; ${version(["runc", "--version"])}; ${version(["ctr", "--version"])}`,
    `- image: ${IMAGE} (busybox-static, one layer); ${o.runs} timed runs per pair after ${o.warmup} warm-up; cells are median (min – max) in ms`,
    "",
  );

  const baseline = pairs.find((p) => p.kind === "containerd" && p.shim === RUNC_SHIM);
  if (o.only.has("latency")) {
    const runcMed = median(runcMs);
    const cdOverhead = baseline && !baseline.unavailable ? median(baseline.runs) - runcMed : Number.NaN;
    const rows: string[][] = [["bare `runc run` (same rootfs, runc spec)", cell(runcMs), "0", "", ""]];
    for (const p of pairs) {
      if (p.unavailable) {
        rows.push([pairName(p.kind, p.shim), `not available: ${p.unavailable}`, "", "", ""]);
        continue;
      }
      const overhead = median(p.runs) - runcMed;
      const ratio = overhead / cdOverhead;
      const target = p.kind === "bunkerd" ? verdict(ratio) : "";
      rows.push([pairName(p.kind, p.shim), cell(p.runs), fmt(overhead), fmt(ratio, 2), target]);
    }
    out.push(
      "#### `ctr run --rm busybox true`, wall time spawn → exit",
      "",
      markdownTable(
        [
          "",
          "ms, median (min – max)",
          "overhead over runc (ms)",
          "overhead ÷ containerd+runc-v2's",
          "target",
        ],
        rows,
      ),
      "",
    );
  }

  if (o.only.has("density")) {
    const total = (p: Pair) =>
      p.density ? p.density.full.daemonPssKb + p.density.full.shimsPssKb : Number.NaN;
    const base = baseline ? total(baseline) : Number.NaN;
    const rows = pairs.map((p) => {
      if (!p.density)
        return [
          pairName(p.kind, p.shim),
          `not available: ${p.densityUnavailable ?? "?"}`,
          "",
          "",
          "",
          "",
          "",
        ];
      const { startMs, idle, full } = p.density;
      const ratio = total(p) / base;
      const target = p.kind === "bunkerd" ? verdict(ratio) : "";
      return [
        pairName(p.kind, p.shim),
        cell(startMs),
        `${mib(idle.daemonPssKb)} → ${mib(full.daemonPssKb)} (RSS ${mib(full.daemonRssKb)})`,
        `${mib(full.shimsPssKb)} (${full.shims} × ${fmt(kbToMiB(full.shimsPssKb / Math.max(1, full.shims)), 2)})`,
        mib(total(p)),
        fmt(ratio, 2),
        target,
      ];
    });
    out.push(
      `#### density: ${o.density} × \`ctr run -d busybox ID sleep 3600\` on a fresh daemon`,
      "",
      markdownTable(
        [
          "",
          "start each, ms",
          "daemon PSS MiB (idle → with all; RSS)",
          "shims PSS MiB (n × each)",
          "daemon + shims PSS MiB",
          "÷ containerd+runc-v2",
          "target",
        ],
        rows,
      ),
      "",
      `Containers' own processes (the sleeps), not counted above: ${pairs
        .filter((p) => p.density)
        .map((p) => `${pairName(p.kind, p.shim)} ${mib(p.density!.full.containersPssKb)} MiB`)
        .join(", ")}. Shims' RSS: ${pairs
        .filter((p) => p.density)
        .map((p) => `${pairName(p.kind, p.shim)} ${mib(p.density!.full.shimsRssKb)} MiB`)
        .join(", ")}.`,
      "",
    );
  }

  if (o.only.has("profile")) {
    const profiled = pairs.filter((p) => p.profile);
    out.push(
      `#### profile: where the ms of one \`ctr run --rm busybox true\` go (${o.profileRuns} traced runs, medians)`,
      "",
    );
    for (const p of pairs.filter((p) => !p.profile))
      out.push(`- ${pairName(p.kind, p.shim)}: not available: ${p.profileUnavailable ?? "?"}`);
    if (profiled.length) {
      const phases = profiled.map((p) => medianPhases(p.profile!.runs));
      out.push(
        "",
        markdownTable(
          ["phase (ms)", ...profiled.map((p) => pairName(p.kind, p.shim))],
          phases[0]!.map((ph, i) => [ph.name, ...phases.map((x) => fmt(x[i]?.ms))]),
        ),
        "",
      );
      out.push(
        `Phases are medians of each piece, so they need not add up to the median total. Wrapped execs (runc, shims) each carry ~2 ms of bash. Exec floors, the binary run with nothing to do (median of ${o.runs}): ${meta.floors.map(([n, xs]) => `\`${n}\` ${fmt(median(xs))} ms`).join(", ")}.`,
        "",
      );
      const methods = profiled.map((p) => methodTimes(p.profile!.runs));
      const names = [...new Set(methods.flatMap((m) => [...m.keys()]))];
      out.push(
        "Per gRPC method: calls per run, median duration seen by ctr through the proxy / mean server handling time from the daemon's `grpc_server_handling_seconds` (ms):",
        "",
        markdownTable(
          ["method", ...profiled.map((p) => pairName(p.kind, p.shim))],
          names.map((m) => [
            m,
            ...profiled.map((p, i) => {
              const c = methods[i]!.get(m);
              const s = p.profile!.server.get(m);
              if (!c) return "–";
              const server = s ? fmt((s.sum * 1000) / s.count) : "–";
              const unended = c.unended ? ` (${c.unended} not seen to end)` : "";
              return `${fmt(c.perRun, 0)} × ${fmt(c.ms)} / ${server}${unended}`;
            }),
          ]),
        ),
        "",
      );
      for (const p of profiled) {
        const runs = [...p.profile!.runs].sort((a, b) => a.exit - a.spawn - (b.exit - b.spawn));
        const mid = runs[runs.length >> 1]!;
        out.push(
          `Timeline of the median run, ${pairName(p.kind, p.shim)} (ms from ctr's spawn):`,
          "",
          "```text",
          timeline(mid),
          "```",
          "",
        );
      }
    }
  }
  const left = leftovers;
  out.push(
    left
      ? `Cleanup: ${left} leftover process(es) (shims or containers) had to be killed by pid after the runs.`
      : "Cleanup: no shim or container was left behind by any run.",
  );
  return out.join("\n");
}

export default async function runtime(argv: string[]): Promise<void> {
  const o = parse(argv);
  const t0 = performance.now();
  const load0 = loadavg();
  const daemonDesc = o.daemon.source
    ? `${REPO}/bin/bunkerd (bun ${Bun.version}, from source)`
    : o.daemon.bin
      ? `${o.daemon.bin}`
      : `the tree compiled with bun build --compile (bun ${Bun.version})`;
  progress("preparing the shim binary and the runc bundle");
  const shim = temp(bunkerShimDir(o.shim));
  let runc: RuncBundle | undefined;
  const onSignal = () => {
    killAllLeftovers();
    for (const t of temps) t.cleanup();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  const pairs: Pair[] = o.daemons.flatMap((kind) => o.shims.map((shim) => ({ kind, shim, runs: [] })));
  const runcMs: number[] = [];
  let floors: [string, number[]][] = [];
  try {
    runc = temp(makeRuncBundle());
    if (o.only.has("latency")) await latency(o, pairs, runc, runcMs, [shim.dir]);
    if (o.only.has("density")) await density(o, pairs, [shim.dir]);
    if (o.only.has("profile")) {
      floors = await execFloors(o, shim.dir);
      await profile(o, pairs, shim.dir);
    }
  } finally {
    killAllLeftovers();
    if (runc) untemp(runc);
    untemp(shim);
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
  console.log(
    report(o, pairs, runcMs, {
      load0,
      load1: loadavg(),
      ms: performance.now() - t0,
      daemonDesc,
      shimDesc: shim.description,
      floors,
    }),
  );
}
