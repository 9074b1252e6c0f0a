/** The systems a scenario compares, behind one interface: bunkerd, containerd 1.6 with its CRI
 *  plugin disabled (the baseline: bunkerd has no CRI yet), and containerd with CRI as a
 *  reference. Each start() gets a fresh temp dir (root, state, sockets, config, log) unless the
 *  caller passes its own `dir`, and each stop() signals the daemon by pid (SIGKILL after a grace
 *  period) and removes the temp dir.
 *  A target runs one daemon at a time; scenarios run one target at a time. */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { cleanupDir, REPO } from "../../test/harness/daemon.ts";
import { probeVersion } from "./version-probe.ts";

export type TargetName = "bunkerd" | "containerd" | "containerd+cri";

export interface Running {
  pid: number;
  /** The gRPC unix socket. */
  address: string;
  dir: string;
  /** Wall time from spawn to the first successful Version reply, in ms. */
  bootMs: number;
  /** The version string the daemon answered with. */
  version: string;
}

export interface Target {
  readonly name: TargetName;
  /** One line for the report: what runs and how it is configured. */
  readonly description: string;
  /** Starts a fresh daemon and resolves once Version answers. Timed from the spawn. */
  start(): Promise<Running>;
  /** Stops the running daemon, if any, and removes its temp dir. Idempotent. */
  stop(): Promise<void>;
}

export interface TargetOptions {
  /** bunkerd only: run `bun --cpu-prof` on the daemon's entry and keep the profile here. */
  cpuProfileDir?: string;
  readyTimeoutMs?: number;
  /** TOML appended to the generated config (e.g. a `[plugins."…"]` table). */
  extraConfig?: string;
  /** Extra environment for the daemon process. */
  env?: Record<string, string>;
  /** Run in this directory (root, state, sockets, config, log) instead of a fresh temp dir, and
   *  keep it on stop: the caller made it and removes it. Lets a second daemon start on what a
   *  first one wrote, e.g. a profiled daemon on data an unprofiled one set up. */
  dir?: string;
}

const live = new Set<Target>();
let aborted = false;

/** Stops every daemon still running (final cleanup). With `abort`, also refuses any later
 *  start(), so a scenario interrupted mid-loop cannot spawn another daemon (Ctrl-C). */
export async function stopAll({ abort = false } = {}): Promise<void> {
  aborted ||= abort;
  await Promise.all([...live].map((t) => t.stop()));
}

function baseConfig(dir: string, extra: string[] = []): string {
  return [
    "version = 2",
    `root = "${join(dir, "root")}"`,
    `state = "${join(dir, "state")}"`,
    ...extra,
    "[grpc]",
    `  address = "${join(dir, "d.sock")}"`,
    "[ttrpc]",
    `  address = "${join(dir, "d.sock.ttrpc")}"`,
    "",
  ].join("\n");
}

interface Spec {
  name: TargetName;
  description: string;
  config(dir: string): string;
  argv(configPath: string): string[];
}

function daemonTarget(spec: Spec, o: TargetOptions): Target {
  let current: { proc: Subprocess; dir: string } | undefined;
  let stopping: Promise<void> | undefined;

  const target: Target = {
    name: spec.name,
    description: spec.description,

    async start() {
      if (aborted) throw new Error(`${spec.name}: not started, the run was interrupted`);
      if (current) throw new Error(`${spec.name}: already running (pid ${current.proc.pid})`);
      const dir = o.dir ?? mkdtempSync(`/tmp/bench-${spec.name.replace("+", "-")}-`);
      const configPath = join(dir, "config.toml");
      const address = join(dir, "d.sock");
      const logPath = join(dir, "daemon.log");
      writeFileSync(configPath, spec.config(dir) + (o.extraConfig ?? ""));
      const argv = spec.argv(configPath);
      const log = Bun.file(logPath);
      const t0 = performance.now();
      let proc: Subprocess;
      try {
        const env = o.env ? { ...process.env, ...o.env } : undefined;
        proc = Bun.spawn(argv, { stdin: "ignore", stdout: log, stderr: log, cwd: REPO, env });
      } catch (e) {
        if (!o.dir) cleanupDir(dir); // e.g. the binary is not installed
        throw e;
      }
      current = { proc, dir };
      live.add(target);
      try {
        const deadline = t0 + (o.readyTimeoutMs ?? 20_000);
        for (;;) {
          // A stat is cheaper than a refused connect while the socket does not exist yet.
          if (existsSync(address)) {
            const version = await probeVersion(address);
            if (version !== undefined)
              return { pid: proc.pid, address, dir, bootMs: performance.now() - t0, version };
          }
          if (aborted || !current) throw new Error(`${spec.name}: interrupted before it was ready`);
          if (proc.exitCode !== null || proc.signalCode !== null) {
            throw new Error(`${spec.name} exited (${proc.exitCode ?? proc.signalCode}) before it was ready`);
          }
          if (performance.now() > deadline)
            throw new Error(`${spec.name} not ready after ${o.readyTimeoutMs ?? 20_000} ms`);
          await Bun.sleep(1);
        }
      } catch (e) {
        let tail = "";
        try {
          tail = readFileSync(logPath, "utf8").split("\n").slice(-20).join("\n");
        } catch {}
        await target.stop();
        throw new Error(`${(e as Error).message}\n--- ${argv.join(" ")}: last log lines ---\n${tail}`);
      }
    },

    stop() {
      if (!current) return stopping ?? Promise.resolve();
      const { proc, dir } = current;
      current = undefined;
      stopping = (async () => {
        try {
          if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGTERM");
          const timer = setTimeout(() => proc.kill("SIGKILL"), 5_000);
          await proc.exited;
          clearTimeout(timer);
        } finally {
          if (!o.dir) cleanupDir(dir);
          live.delete(target);
        }
      })();
      return stopping;
    },
  };
  return target;
}

/** The bunkerd a user runs after `scripts/setup`: the tree compiled with `bun build --compile`,
 *  built once per bench run (untimed) so it is always the current source. `--source` runs
 *  bin/bunkerd from source instead. */
let compiled: string | undefined;
export function compiledBunkerd(): string {
  if (compiled) return compiled;
  const out = join(tmpdir(), `bunkerd-bench-${process.pid}`);
  const r = Bun.spawnSync(
    [
      "bun",
      "build",
      "--compile",
      // One chunk per module group: a worker creates only the functions of what it imports
      // (~12 MiB less anonymous memory with six workers; bench/RESULTS.md, boot and memory).
      "--splitting",
      // Start-up code stays interpreted (the JIT threads spent ~60 ms of a ~200 ms boot's CPU
      // compiling it); bunkerd restores the normal policy once it serves.
      "--compile-jit-policy=8",
      "--minify",
      "--format=esm",
      "--bytecode",
      join(REPO, "apps/daemon/src/main.ts"),
      join(REPO, "apps/daemon/src/host/worker.ts"),
      "--outfile",
      out,
    ],
    { stdout: "pipe", stderr: "pipe" },
  );
  if (r.exitCode !== 0) throw new Error(`compiling bunkerd failed: ${r.stderr}`);
  process.on("exit", () => rmSync(out, { force: true }));
  compiled = out;
  return out;
}

/** `bin`: run this bunkerd binary instead of compiling the tree (e.g. /usr/local/bin/bunkerd). */
export function bunkerd(o: TargetOptions & { source?: boolean; bin?: string } = {}): Target {
  const entry = join(REPO, "apps/daemon/src/main.ts");
  const bin = o.cpuProfileDir || o.source ? join(REPO, "bin/bunkerd") : (o.bin ?? compiledBunkerd());
  return daemonTarget(
    {
      name: "bunkerd",
      description: o.cpuProfileDir
        ? `bun --cpu-prof ${entry} (profiling: not a timing run)`
        : o.source
          ? `${bin} (bun ${Bun.version}, from source), default plugins`
          : o.bin
            ? `${bin}, default plugins`
            : `bunkerd compiled with bun build --compile (bun ${Bun.version}), default plugins`,
      config: (dir) => baseConfig(dir),
      argv: (config) =>
        o.cpuProfileDir
          ? ["bun", "--cpu-prof", `--cpu-prof-dir=${o.cpuProfileDir}`, entry, "--config", config]
          : [bin, "--config", config],
    },
    o,
  );
}

export function containerd(o: TargetOptions & { cri?: boolean } = {}): Target {
  return daemonTarget(
    {
      name: o.cri ? "containerd+cri" : "containerd",
      description: o.cri
        ? "containerd, default plugins including io.containerd.grpc.v1.cri (reference only)"
        : 'containerd, disabled_plugins = ["io.containerd.grpc.v1.cri"]',
      config: (dir) => baseConfig(dir, o.cri ? [] : ['disabled_plugins = ["io.containerd.grpc.v1.cri"]']),
      argv: (config) => ["containerd", "--config", config],
    },
    o,
  );
}
