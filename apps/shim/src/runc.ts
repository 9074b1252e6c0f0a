/** The runc driver: one method per runc command the shim uses, with containerd's runc shim's
 *  flags (`--root <root>/<namespace>`, `--log <bundle>/log.json --log-format json`,
 *  `--systemd-cgroup`). Commands run through the reaper's `exec`, so the reaper never steals
 *  runc's own exit status. A failure becomes an error naming the command and runc's message. */
import { openSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { BunkerError, Kind } from "@bunkerd/plugin-api";
import type { RuncOptions } from "./options.ts";
import type { ExecOptions, ExecResult } from "./sys/index.ts";

export type Exec = (cmd: string[], opts?: ExecOptions) => Promise<ExecResult>;

/** stdin, stdout, stderr for the process runc starts: fds, or none (/dev/null). */
export interface Stdio {
  stdin?: number;
  stdout?: number;
  stderr?: number;
}

export interface CreateOpts {
  bundle: string;
  pidFile: string;
  consoleSocket?: string;
  noPivot?: boolean;
  noNewKeyring?: boolean;
  stdio: Stdio;
}

export interface ExecProcOpts {
  processFile: string;
  pidFile: string;
  consoleSocket?: string;
  stdio: Stdio;
}

let devNull: number | undefined;
const nullFd = () => (devNull ??= openSync("/dev/null", "r+"));

export class Runc {
  readonly root: string;
  constructor(
    readonly exec: Exec,
    readonly options: RuncOptions,
    namespace: string,
    /** The bundle whose log.json runc writes to; create and exec errors are read from it. */
    readonly bundle: string,
  ) {
    this.root = join(options.root, namespace);
  }

  private get logPath(): string {
    return join(this.bundle, "log.json");
  }

  private global(): string[] {
    const args = [
      this.options.binaryName,
      "--root",
      this.root,
      "--log",
      this.logPath,
      "--log-format",
      "json",
    ];
    if (this.options.systemdCgroup) args.push("--systemd-cgroup");
    return args;
  }

  private async run(
    args: string[],
    opts: { stdio?: Stdio; input?: Uint8Array; readLog?: boolean } = {},
  ): Promise<string> {
    const cmd = [...this.global(), ...args];
    const logSize = opts.readLog ? sizeOf(this.logPath) : 0;
    let r: ExecResult;
    try {
      r = await this.exec(cmd, {
        cwd: this.bundle,
        stdin: opts.input ?? opts.stdio?.stdin ?? nullFd(),
        stdout: opts.stdio ? (opts.stdio.stdout ?? nullFd()) : "pipe",
        stderr: opts.stdio ? (opts.stdio.stderr ?? nullFd()) : "pipe",
      });
    } catch (e) {
      throw new BunkerError(Kind.Unknown, `${this.options.binaryName} ${args[0]}: ${(e as Error).message}`, {
        cause: e,
      });
    }
    if (r.code !== 0) {
      const why = (opts.readLog ? lastLogError(this.logPath, logSize) : "") || r.stderr.trim();
      throw runcError(args[0]!, why || `exit status ${r.code}`);
    }
    return r.stdout;
  }

  async create(id: string, o: CreateOpts): Promise<void> {
    const args = ["create", "--bundle", o.bundle, "--pid-file", o.pidFile];
    if (o.consoleSocket) args.push("--console-socket", o.consoleSocket);
    if (o.noPivot) args.push("--no-pivot");
    if (o.noNewKeyring) args.push("--no-new-keyring");
    await this.run([...args, id], { stdio: o.stdio, readLog: true });
  }

  async start(id: string): Promise<void> {
    await this.run(["start", id]);
  }

  async execDetached(id: string, o: ExecProcOpts): Promise<void> {
    const args = ["exec", "--process", o.processFile, "--detach", "--pid-file", o.pidFile];
    if (o.consoleSocket) args.push("--console-socket", o.consoleSocket);
    await this.run([...args, id], { stdio: o.stdio, readLog: true });
  }

  async delete(id: string, force = false): Promise<void> {
    await this.run(force ? ["delete", "--force", id] : ["delete", id]);
  }

  async kill(id: string, signal: number, all = false): Promise<void> {
    await this.run(all ? ["kill", "--all", id, String(signal)] : ["kill", id, String(signal)]);
  }

  async pause(id: string): Promise<void> {
    await this.run(["pause", id]);
  }

  async resume(id: string): Promise<void> {
    await this.run(["resume", id]);
  }

  async ps(id: string): Promise<number[]> {
    const out = await this.run(["ps", "--format", "json", id]);
    const pids = JSON.parse(out.trim() || "[]");
    return Array.isArray(pids) ? pids.filter((p): p is number => typeof p === "number") : [];
  }

  /** `runc update --resources -` with the OCI LinuxResources JSON on stdin. */
  async update(id: string, resourcesJson: Uint8Array): Promise<void> {
    await this.run(["update", "--resources", "-", id], { input: resourcesJson });
  }

  async state(id: string): Promise<{ status: string; pid: number }> {
    return JSON.parse(await this.run(["state", id]));
  }
}

/** runc's wording mapped to containerd's kinds: a process that is gone is NotFound. */
function runcError(command: string, message: string): BunkerError {
  const gone = /process already finished|container not running|no such process|not exist/i.test(message);
  if (command === "kill" && gone) return new BunkerError(Kind.NotFound, "process already finished");
  if (/does not exist|not exist/i.test(message) && command !== "create" && command !== "exec") {
    return new BunkerError(Kind.NotFound, `runc ${command}: ${message}`);
  }
  // containerd's runc shim words these as "OCI runtime <command> failed: <runc's message>".
  if (command === "create" || command === "start" || command === "exec") {
    return new BunkerError(Kind.Unknown, `OCI runtime ${command} failed: ${message}`);
  }
  return new BunkerError(
    Kind.Unknown,
    message.startsWith(`runc ${command} failed`) ? message : `runc ${command} failed: ${message}`,
  );
}

function sizeOf(path: string): number {
  try {
    return readFileSync(path).length;
  } catch {
    return 0;
  }
}

/** The last error runc logged after `from` bytes (its JSON log: {"level","msg","time"}). */
function lastLogError(path: string, from: number): string {
  let text: string;
  try {
    text = readFileSync(path).subarray(from).toString("utf8");
  } catch {
    return "";
  }
  let last = "";
  for (const line of text.split("\n")) {
    if (line === "") continue;
    try {
      const entry = JSON.parse(line) as { level?: string; msg?: string };
      if (entry.level === "error" && entry.msg) last = entry.msg;
    } catch {
      // A partial line: runc was killed mid-write.
    }
  }
  return last;
}
