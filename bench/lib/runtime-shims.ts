/** Shims for the `runtime` scenario: which `containerd-shim-bunker-v2` the daemons find on PATH
 *  (a compiled one, like the bunkerd we run, or the from-source launcher), the shims serving one
 *  daemon (found by their `-address` argument: they are daemonized, so not the daemon's
 *  children), their memory, and the cleanup of whatever a run left: containers' processes, shims,
 *  runc state and shim sockets, all by pid or by path. */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { REPO } from "../../test/harness/daemon.ts";
import { processTree } from "./proc.ts";

export const RUNC_SHIM = "io.containerd.runc.v2";
export const BUNKER_SHIM = "io.containerd.bunker.v2";
const SHIM_NAME = "containerd-shim-bunker-v2";

export interface ShimDir {
  /** A directory to put first on the daemons' PATH: it holds `containerd-shim-bunker-v2`. */
  dir: string;
  description: string;
  cleanup(): void;
}

/** `source`: the repo's bin/ launcher (bun on apps/shim/src/main.ts). `bin`: that binary.
 *  Otherwise the tree compiled now (untimed), as scripts/setup would: `bun build --compile` of
 *  main.ts and the fd worker's entry; like bunkerd, so both run the current source. */
export function bunkerShimDir(o: { source?: boolean; bin?: string }): ShimDir {
  if (o.source) {
    return {
      dir: join(REPO, "bin"),
      description: `bin/${SHIM_NAME} (bun ${Bun.version}, from source)`,
      cleanup() {},
    };
  }
  const dir = mkdtempSync("/tmp/bench-shimbin-");
  const cleanup = () => rmSync(dir, { recursive: true, force: true });
  const bin = o.bin;
  if (bin) {
    symlinkSync(bin, join(dir, SHIM_NAME));
    return { dir, description: `${bin} (built ${statSync(bin).mtime.toISOString()})`, cleanup };
  }
  const r = Bun.spawnSync(
    [
      "bun",
      "build",
      "--compile",
      "--minify",
      "--format=esm",
      "--bytecode",
      join(REPO, "apps/shim/src/main.ts"),
      join(REPO, "apps/shim/src/fd.worker.ts"),
      "--outfile",
      join(dir, SHIM_NAME),
    ],
    { stdout: "pipe", stderr: "pipe" },
  );
  if (r.exitCode !== 0) {
    cleanup();
    throw new Error(`compiling ${SHIM_NAME} failed: ${r.stderr}`);
  }
  return {
    dir,
    description: `${SHIM_NAME} compiled from the tree with bun build --compile (bun ${Bun.version})`,
    cleanup,
  };
}

function cmdline(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
  } catch {
    return [];
  }
}

/** Shim processes started for the daemon listening on `address`: every process whose arguments
 *  hold `-address <address>` (containerd's shim flags; ours parses the same). The `start` and
 *  `delete` invocations match too while they run. */
export function shimPids(address: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const argv = cmdline(Number(name));
    const i = argv.indexOf("-address");
    if (i >= 0 && argv[i + 1] === address) out.push(Number(name));
  }
  return out;
}

function rollupKb(pid: number): { pss: number; rss: number } {
  try {
    const s = readFileSync(`/proc/${pid}/smaps_rollup`, "utf8");
    const kb = (f: string) => Number(new RegExp(`^${f}:\\s+(\\d+) kB`, "m").exec(s)?.[1] ?? 0);
    return { pss: kb("Pss"), rss: kb("Rss") };
  } catch {
    return { pss: 0, rss: 0 }; // gone meanwhile
  }
}

export interface RuntimeMemory {
  /** The daemon and its own children (not shims, not containers). */
  daemonPssKb: number;
  daemonRssKb: number;
  /** The shims themselves (each shim process; its containers excluded). */
  shimsPssKb: number;
  shims: number;
  /** The containers' processes (children of the shims), for reference. */
  containersPssKb: number;
  shimsRssKb: number;
}

/** PSS (from /proc/PID/smaps_rollup) of the daemon and every shim serving it, kept apart from the
 *  containers' own processes. */
export function runtimeMemory(daemonPid: number, address: string): RuntimeMemory {
  const shims = shimPids(address).filter(
    (p) => !cmdline(p).includes("start") && !cmdline(p).includes("delete"),
  );
  const shimSet = new Set(shims);
  const containers = new Set<number>();
  for (const s of shims) for (const p of processTree(s).slice(1)) if (!shimSet.has(p)) containers.add(p);
  const daemonPids = processTree(daemonPid).filter((p) => !shimSet.has(p) && !containers.has(p));
  const sum = (pids: Iterable<number>, f: "pss" | "rss") => {
    let t = 0;
    for (const p of pids) t += rollupKb(p)[f];
    return t;
  };
  return {
    daemonPssKb: sum(daemonPids, "pss"),
    daemonRssKb: sum(daemonPids, "rss"),
    shimsPssKb: sum(shims, "pss"),
    shims: shims.length,
    containersPssKb: sum(containers, "pss"),
    shimsRssKb: sum(shims, "rss"),
  };
}

/** After a daemon's work (or on failure): SIGKILL, by pid, every container init recorded in the
 *  daemon's bundles and every shim still serving it, then force-delete the runc state and remove
 *  shim sockets the bundles name. Returns how many processes it had to kill (0 when the run
 *  cleaned up after itself, as it should). */
export function killLeftovers(address: string, state: string): number {
  let killed = 0;
  const kill = (pid: number) => {
    try {
      process.kill(pid, "SIGKILL");
      killed++;
    } catch {}
  };
  const tasks = join(state, "io.containerd.runtime.v2.task");
  const bundles: { ns: string; id: string; path: string }[] = [];
  for (const ns of safeReaddir(tasks)) {
    for (const id of safeReaddir(join(tasks, ns))) bundles.push({ ns, id, path: join(tasks, ns, id) });
  }
  for (const b of bundles) {
    const pid = Number(safeRead(join(b.path, "init.pid")));
    if (pid > 1) kill(pid);
  }
  for (const pid of shimPids(address)) kill(pid);
  for (const b of bundles) {
    // Both shims default to runc's root /run/containerd/runc/<namespace>, shared machine-wide.
    Bun.spawnSync(["runc", "--root", `/run/containerd/runc/${b.ns}`, "delete", "--force", b.id], {
      stdout: "ignore",
      stderr: "ignore",
    });
    const sock = safeRead(join(b.path, "address"))
      .replace(/^unix:\/\//, "")
      .trim();
    if (/^\/run\/(containerd|bunkerd)\/s\/[0-9a-f]+$/.test(sock)) rmSync(sock, { force: true });
  }
  return killed;
}

function safeReaddir(path: string): string[] {
  try {
    return readdirSync(path);
  } catch {
    return [];
  }
}

function safeRead(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}
