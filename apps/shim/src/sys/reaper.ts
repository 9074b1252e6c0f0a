/** The shim as child subreaper: container inits and exec'd processes are re-parented to the shim
 *  when runc exits, and Bun never reaps children it did not spawn, so this module does.
 *
 *  It must never reap a child that Bun.spawn is waiting for: Bun's own waitpid then fails with
 *  ECHILD and the process dies on the unhandled error (measured, Bun 1.4.4). So a zombie is
 *  first peeked at with waitid(WNOWAIT), and left alone when it is one Bun owns: spawned by
 *  `exec`, or watched by a pidfd this process holds (Bun.spawn keeps one per child). */
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { constants } from "node:os";
import { check, Errno, errno, ptr, sys } from "./libc.ts";

const PR_SET_CHILD_SUBREAPER = 36;
const P_ALL = 0;
const WNOHANG = 1;
const WEXITED = 4;
const WNOWAIT = 0x01000000;

/** Makes orphaned descendants (the container's init once runc exits) children of this process;
 *  `false` turns it off again (tests, so later orphans go back to init). */
export function setSubreaper(enabled = true): void {
  check(sys.prctl(PR_SET_CHILD_SUBREAPER, enabled ? 1n : 0n, 0n, 0n, 0n), "prctl(PR_SET_CHILD_SUBREAPER)");
}

export type Exit = { pid: number; status: number; exitedAt: Date };
export type ExitListener = (pid: number, status: number, exitedAt: Date) => void;

export type ExecOptions = {
  cwd?: string;
  /** Replaces the environment, as Bun.spawn does. */
  env?: Record<string, string>;
  stdin?: Uint8Array | number;
  stdout?: number | "pipe";
  stderr?: number | "pipe";
};
export type ExecResult = { code: number; stdout: string; stderr: string };

export type ReaperOptions = {
  /** Safety-net poll in case a SIGCHLD is missed (signals coalesce; ours may be consumed). Exits
   *  arrive by SIGCHLD within a millisecond (measured), so this is rare: 1 s keeps an idle shim
   *  from waking 10 times a second, which 100 ms did. */
  pollMs?: number;
  /** How long an exit is kept for a wait(pid) that comes after it. */
  retainMs?: number;
  /** At most this many kept exits; the oldest go first. */
  retainMax?: number;
};

/** containerd's exit status: the exit code, or 128 + the signal that killed the process. */
export function exitStatus(waitStatus: number): number {
  const sig = waitStatus & 0x7f;
  return sig === 0 ? (waitStatus >> 8) & 0xff : 128 + sig;
}

function signalNumber(sig: string | number | null): number {
  if (typeof sig === "number") return sig;
  return sig ? ((constants.signals as Record<string, number>)[sig] ?? 0) : 0;
}

/** Pids this process holds a pidfd for: the children Bun.spawn is watching. */
function pidfdPids(): Set<number> {
  const out = new Set<number>();
  for (const fd of readdirSync("/proc/self/fd")) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`) !== "anon_inode:[pidfd]") continue;
      const pid = /^Pid:\s*(-?\d+)/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, "utf8"))?.[1];
      if (pid) out.add(Number(pid));
    } catch {
      // The fd was closed while we looked: not a live pidfd.
    }
  }
  return out;
}

/** Every child of this process that is a zombie, from /proc (all threads' children lists). */
function zombieChildren(): number[] {
  const pids: number[] = [];
  for (const tid of readdirSync("/proc/self/task")) {
    let list = "";
    try {
      list = readFileSync(`/proc/self/task/${tid}/children`, "utf8");
    } catch {
      continue;
    }
    for (const pid of list.split(" ").filter(Boolean).map(Number)) {
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
        if (stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) === "Z") pids.push(pid);
      } catch {
        // Reaped by someone else meanwhile.
      }
    }
  }
  return pids;
}

export class Reaper {
  readonly #exits = new Map<number, Exit>();
  readonly #waiters = new Map<number, ((e: Exit) => void)[]>();
  readonly #listeners = new Set<ExitListener>();
  /** Children of Bun.spawn started by exec(): Bun reaps them. */
  readonly #owned = new Set<number>();
  readonly #opts: Required<ReaperOptions>;
  readonly #siginfo = new Int32Array(32); // siginfo_t is 128 bytes
  readonly #status = new Int32Array(1);
  #timer: ReturnType<typeof setInterval> | undefined;
  readonly #onSignal = () => this.reapNow();

  constructor(opts: ReaperOptions = {}) {
    this.#opts = { pollMs: 1000, retainMs: 5 * 60_000, retainMax: 4096, ...opts };
  }

  start(): void {
    if (this.#timer) return;
    // Bun delivers SIGCHLD to listeners and still reaps its own children (measured).
    process.on("SIGCHLD", this.#onSignal);
    this.#timer = setInterval(this.#onSignal, this.#opts.pollMs);
    this.#timer.unref();
    this.reapNow();
  }

  stop(): void {
    this.reapNow();
    process.off("SIGCHLD", this.#onSignal);
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Resolves when pid exits; at once when it exited recently (before this call). */
  wait(pid: number): Promise<{ status: number; exitedAt: Date }> {
    const done = this.#exits.get(pid);
    if (done) return Promise.resolve({ status: done.status, exitedAt: done.exitedAt });
    return new Promise((resolve) => {
      const list = this.#waiters.get(pid) ?? [];
      list.push((e) => resolve({ status: e.status, exitedAt: e.exitedAt }));
      this.#waiters.set(pid, list);
    });
  }

  /** Calls cb for every process this reaper reaps. Returns the unsubscribe function. */
  onExit(cb: ExitListener): () => void {
    this.#listeners.add(cb);
    return () => this.#listeners.delete(cb);
  }

  /** Drops a kept exit, e.g. once its process is deleted, so a reused pid cannot match it. */
  forget(pid: number): void {
    this.#exits.delete(pid);
  }

  /** Runs cmd to completion with Bun.spawn (so Bun, not the reaper, collects its status). */
  async exec(cmd: string[], opts: ExecOptions = {}): Promise<ExecResult> {
    const proc = Bun.spawn(cmd, {
      cwd: opts.cwd,
      env: opts.env,
      stdin: opts.stdin ?? "ignore",
      stdout: opts.stdout ?? "pipe",
      stderr: opts.stderr ?? "pipe",
    });
    // Same tick as the spawn, so no reap pass can run before the pid is marked as Bun's.
    this.#owned.add(proc.pid);
    try {
      const text = (s: ReadableStream<Uint8Array> | number | undefined) =>
        s instanceof ReadableStream ? new Response(s).text() : Promise.resolve("");
      const [, stdout, stderr] = await Promise.all([proc.exited, text(proc.stdout), text(proc.stderr)]);
      const code = proc.exitCode ?? 128 + signalNumber(proc.signalCode);
      return { code, stdout, stderr };
    } finally {
      this.#owned.delete(proc.pid);
      // runc create/exec leave an orphan behind that may already be gone.
      this.reapNow();
    }
  }

  /** Reaps every exited child that Bun does not own. Safe to call at any time. */
  reapNow(): void {
    let bunOwned: Set<number> | undefined;
    const isBuns = (pid: number) => {
      if (this.#owned.has(pid)) return true;
      bunOwned ??= pidfdPids();
      return bunOwned.has(pid);
    };
    for (;;) {
      const info = this.#siginfo;
      info.fill(0);
      const r = sys.waitid(P_ALL, 0, ptr(info), WEXITED | WNOHANG | WNOWAIT);
      if (r < 0) {
        if (errno() === Errno.EINTR) continue;
        return; // ECHILD: no children at all
      }
      const pid = info[4] ?? 0; // si_pid at byte 16
      if (pid === 0) return; // children, none exited
      if (isBuns(pid)) {
        // The oldest zombie is Bun's and hides the rest from waitid: look them up in /proc.
        for (const z of zombieChildren()) if (!isBuns(z)) this.#reap(z);
        return;
      }
      if (!this.#reap(pid)) return;
    }
  }

  #reap(pid: number): boolean {
    const r = sys.waitpid(pid, ptr(this.#status), WNOHANG);
    if (r !== pid) return false;
    this.#record({ pid, status: exitStatus(this.#status[0] ?? 0), exitedAt: new Date() });
    return true;
  }

  #record(e: Exit): void {
    this.#exits.delete(e.pid);
    this.#exits.set(e.pid, e);
    const horizon = e.exitedAt.getTime() - this.#opts.retainMs;
    for (const [pid, old] of this.#exits) {
      if (old.exitedAt.getTime() >= horizon && this.#exits.size <= this.#opts.retainMax) break;
      this.#exits.delete(pid);
    }
    const waiters = this.#waiters.get(e.pid);
    this.#waiters.delete(e.pid);
    for (const w of waiters ?? []) w(e);
    for (const cb of this.#listeners) {
      try {
        cb(e.pid, e.status, e.exitedAt);
      } catch (err) {
        // One faulty listener must not stop exits reaching the others.
        console.error(`reaper: exit listener failed for pid ${e.pid}:`, err);
      }
    }
  }
}
