/** Daemons for the `runtime` scenario: bench targets (one at a time, fresh temp root each) with
 *  the shim directory first on PATH, the busybox test image imported once per start, the Go
 *  `ctr` timed spawn to exit, and a teardown that removes what the containers left (shims,
 *  runc state, sockets) before the target stops and its temp dir goes. */
import { join } from "node:path";
import { BUSYBOX_REF, importBusybox } from "../../test/harness/busybox.ts";
import { ctrAt, type DaemonHandle } from "../../test/harness/daemon.ts";
import { killLeftovers } from "./runtime-shims.ts";
import { bunkerd, containerd, type Running, type Target } from "./targets.ts";

export const NAMESPACE = "bench";
export const IMAGE = BUSYBOX_REF;

export type DaemonKind = "bunkerd" | "containerd";

export interface DaemonChoice {
  /** bunkerd: run bin/bunkerd from source. */
  source?: boolean;
  /** bunkerd: this binary (default /usr/local/bin/bunkerd when present, else the tree compiled). */
  bin?: string;
}

export interface RuntimeDaemon {
  kind: DaemonKind;
  description: string;
  running: Running;
  state: string;
  /** Tears down: leftovers killed by pid, then the daemon stopped and its dir removed. Returns how
   *  many leftover processes had to be killed. */
  stop(): Promise<number>;
}

export interface StartExtras {
  /** Directories put first on the daemon's PATH (shims and runc are looked up there). */
  path: string[];
  extraConfig?: string;
}

const live = new Set<RuntimeDaemon>();

/** For Ctrl-C: kill every live daemon's leftovers now (synchronously, by pid); run.ts then stops
 *  the daemons themselves. */
export function killAllLeftovers(): void {
  for (const d of live) killLeftovers(d.running.address, d.state);
}

export async function startRuntimeDaemon(
  kind: DaemonKind,
  choice: DaemonChoice,
  extras: StartExtras,
): Promise<RuntimeDaemon> {
  const env = { PATH: [...extras.path, process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin"].join(":") };
  const o = { env, extraConfig: extras.extraConfig, readyTimeoutMs: 60_000 };
  const target: Target =
    kind === "containerd"
      ? containerd(o)
      : bunkerd({ ...o, source: choice.source, bin: choice.source ? undefined : choice.bin });
  const running = await target.start();
  const state = join(running.dir, "state");
  let stopped: Promise<number> | undefined;
  const d: RuntimeDaemon = {
    kind,
    description: target.description,
    running,
    state,
    stop() {
      stopped ??= (async () => {
        live.delete(d);
        const killed = killLeftovers(running.address, state);
        await target.stop();
        return killed;
      })();
      return stopped;
    },
  };
  live.add(d);
  try {
    const handle = { dir: running.dir, ctr: ctrAt(running.address) } as unknown as DaemonHandle;
    await importBusybox(handle, IMAGE, { namespace: NAMESPACE });
  } catch (e) {
    await d.stop();
    throw e;
  }
  return d;
}

export interface CtrResult {
  ms: number;
  code: number | null;
  stderr: string;
}

/** The Go ctr against `address` in the bench namespace, timed from spawn to exit. stdout is
 *  dropped (the container's `true` prints nothing; `run -d` prints nothing either). */
export async function ctr(address: string, args: string[], timeoutMs = 60_000): Promise<CtrResult> {
  const t0 = performance.now();
  const p = Bun.spawn(["ctr", "--address", address, "-n", NAMESPACE, ...args], {
    stdin: "ignore",
    stdout: "ignore",
    stderr: "pipe",
  });
  const timer = setTimeout(() => p.kill("SIGKILL"), timeoutMs);
  const [code, stderr] = await Promise.all([p.exited, new Response(p.stderr).text()]);
  const ms = performance.now() - t0;
  clearTimeout(timer);
  return { ms, code, stderr: stderr.trim() };
}

export const runtimeFlag = (runtime: string) => ["--runtime", runtime];
