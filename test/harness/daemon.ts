/** Starts a real daemon for an end-to-end test, on a temporary root, state and sockets, and
 *  tears it down: SIGTERM by pid (SIGKILL if it hangs), unmount anything left under the temp
 *  dir, remove it. The same harness runs bunkerd or containerd, so a test can compare them. */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Subprocess } from "bun";
import { versionOk } from "./grpc.ts";

export const REPO = resolve(import.meta.dir, "../..");
export const BUNKERD = join(REPO, "bin/bunkerd");
export const isRoot = process.getuid?.() === 0;
export const hasBinary = (name: string) => Bun.which(name) !== null;
/** What the suites that run real tasks need: root, the Go ctr, runc and containerd's runc shim. */
export const canRunTasks =
  isRoot && hasBinary("ctr") && hasBinary("runc") && hasBinary("containerd-shim-runc-v2");

export interface DaemonHandle {
  kind: "bunkerd" | "containerd";
  dir: string;
  root: string;
  state: string;
  address: string;
  ttrpcAddress: string;
  configPath: string;
  proc: Subprocess;
  pid: number;
  /** Everything the daemon wrote to stdout/stderr so far. */
  log(): string;
  /** Runs the Go ctr against this daemon. */
  ctr(args: string[], opts?: { stdin?: Uint8Array; timeoutMs?: number }): Promise<RunResult>;
  /** SIGTERM and wait; returns the exit code. Cleans the temp dir. Idempotent. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  /** Kills the daemon with `signal` (it may leave its sockets, as a crash does), starts it again
   *  on the same root, state and config, and waits until it serves. */
  restart(signal?: NodeJS.Signals): Promise<void>;
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface StartOptions {
  /** Extra TOML appended to the generated config. */
  extraConfig?: string;
  /** Extra keys for the generated config's [grpc] table. */
  grpcConfig?: string;
  /** Replace the generated config entirely (placeholders $DIR are replaced). */
  config?: string;
  args?: string[];
  env?: Record<string, string>;
  /** Wait for a Version call to answer (default true). */
  waitReady?: boolean;
  timeoutMs?: number;
}

export async function run(
  cmd: string[],
  opts: { stdin?: Uint8Array; timeoutMs?: number; env?: Record<string, string> } = {},
): Promise<RunResult> {
  const p = Bun.spawn(cmd, {
    stdin: opts.stdin ?? "ignore",
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, ...opts.env },
  });
  const timer = setTimeout(() => p.kill("SIGKILL"), opts.timeoutMs ?? 30_000);
  const [stdout, stderr, code] = await Promise.all([
    new Response(p.stdout).text(),
    new Response(p.stderr).text(),
    p.exited,
  ]);
  clearTimeout(timer);
  return { code, stdout, stderr };
}

export function ctrAt(address: string) {
  return (args: string[], opts: { stdin?: Uint8Array; timeoutMs?: number } = {}) =>
    run(["ctr", "--address", address, ...args], opts);
}

export async function startDaemon(
  kind: "bunkerd" | "containerd" = "bunkerd",
  o: StartOptions = {},
): Promise<DaemonHandle> {
  const dir = mkdtempSync(`/tmp/${kind === "bunkerd" ? "bk" : "cd"}-`);
  const root = join(dir, "root");
  const state = join(dir, "state");
  const address = join(dir, "d.sock");
  const ttrpcAddress = `${address}.ttrpc`;
  const configPath = join(dir, "config.toml");
  const config =
    o.config?.replaceAll("$DIR", dir) ??
    [
      "version = 2",
      `root = "${root}"`,
      `state = "${state}"`,
      ...(kind === "containerd" ? ['disabled_plugins = ["io.containerd.grpc.v1.cri"]'] : []),
      "[grpc]",
      `  address = "${address}"`,
      o.grpcConfig ?? "",
      "[ttrpc]",
      `  address = "${ttrpcAddress}"`,
      o.extraConfig?.replaceAll("$DIR", dir) ?? "",
    ].join("\n");
  writeFileSync(configPath, config);
  mkdirSync(root, { recursive: true });
  const bin = kind === "bunkerd" ? [BUNKERD] : ["containerd"];
  const logFile = join(dir, "daemon.log");
  const spawn = () =>
    Bun.spawn([...bin, "--config", configPath, ...(o.args ?? [])], {
      stdout: Bun.file(logFile),
      stderr: Bun.file(logFile),
      stdin: "ignore",
      env: { ...process.env, ...o.env },
    });
  let proc = spawn();
  let stopped: Promise<number | null> | undefined;
  const h: DaemonHandle = {
    kind,
    dir,
    root,
    state,
    address,
    ttrpcAddress,
    configPath,
    get proc() {
      return proc;
    },
    get pid() {
      return proc.pid;
    },
    log: () => {
      try {
        return readFileSync(logFile, "utf8");
      } catch {
        return "";
      }
    },
    ctr: ctrAt(address),
    async restart(signal = "SIGKILL") {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      await proc.exited;
      proc = spawn();
      await waitReady();
    },
    stop(signal = "SIGTERM") {
      stopped ??= (async () => {
        if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
        const timer = setTimeout(() => proc.kill("SIGKILL"), 10_000);
        const code = await proc.exited;
        clearTimeout(timer);
        killShims(dir, state);
        cleanupDir(dir);
        return code;
      })();
      return stopped;
    },
  };
  async function waitReady() {
    const deadline = Date.now() + (o.timeoutMs ?? 20_000);
    for (;;) {
      if (proc.exitCode !== null) {
        const log = h.log();
        await h.stop();
        throw new Error(`${kind} exited with ${proc.exitCode} before it was ready:\n${log}`);
      }
      if (await versionOk(address)) break;
      if (Date.now() > deadline) {
        const log = h.log();
        await h.stop("SIGKILL");
        throw new Error(`${kind} not ready after ${o.timeoutMs ?? 20_000} ms:\n${log}`);
      }
      await Bun.sleep(50);
    }
  }
  if (o.waitReady ?? true) await waitReady();
  return h;
}

/** Unmount whatever a test left below `dir` (deepest first), then remove it. */
export function cleanupDir(dir: string) {
  const mounts = readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((l) => l.split(" ")[4])
    .filter((m): m is string => !!m && (m === dir || m.startsWith(`${dir}/`)))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) Bun.spawnSync(["umount", "-l", m]);
  rmSync(dir, { recursive: true, force: true });
}

/** Shims (and their containers) that a test left running for the daemon in `dir`: every process
 *  whose command line names a socket under `dir` (a shim's `-address`) and says containerd-shim. */
export function shimPids(dir: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const argv = readFileSync(`/proc/${name}/cmdline`, "utf8").split("\0");
      if (argv[0]?.includes("containerd-shim") && argv.some((a) => a.startsWith(`${dir}/`)))
        out.push(Number(name));
    } catch {}
  }
  return out;
}

/** Kills, by pid, the containers' init processes and the shims a test left behind, and removes
 *  their runc state and sockets, so the temp dir can be unmounted and removed. */
export function killShims(dir: string, state: string) {
  const tasks = join(state, "io.containerd.runtime.v2.task");
  const bundles: { ns: string; id: string; path: string }[] = [];
  for (const ns of safeReaddir(tasks)) {
    for (const id of safeReaddir(join(tasks, ns))) bundles.push({ ns, id, path: join(tasks, ns, id) });
  }
  for (const b of bundles) {
    try {
      const pid = Number(readFileSync(join(b.path, "init.pid"), "utf8"));
      if (pid > 1) process.kill(pid, "SIGKILL");
    } catch {}
  }
  for (const pid of shimPids(dir)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {}
  }
  for (const b of bundles) {
    // runc keeps container state under the shim's default root, shared by every daemon.
    if (hasBinary("runc")) {
      Bun.spawnSync(["runc", "--root", `/run/containerd/runc/${b.ns}`, "delete", "--force", b.id], {
        stdout: "ignore",
        stderr: "ignore",
      });
    }
    try {
      const address = readFileSync(join(b.path, "address"), "utf8")
        .replace(/^unix:\/\//, "")
        .trim();
      if (/^\/run\/(containerd|bunkerd)\/s\//.test(address)) rmSync(address, { force: true });
    } catch {}
  }
}

function safeReaddir(path: string): string[] {
  try {
    return readdirSync(path);
  } catch {
    return [];
  }
}
