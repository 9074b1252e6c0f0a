/** The container's init process: runc create (rootfs mounted, stdio or a terminal set up), runc
 *  start, and on delete runc delete and the rootfs unmounted. */
import { join } from "node:path";
import { failedPrecondition, notFound } from "@bunkerd/plugin-api";
import { openProcessIO, type StdioPaths } from "../io.ts";
import type { Runc } from "../runc.ts";
import { openTerminal } from "../terminal.ts";
import { INIT_PID_FILE, readPid } from "./pid.ts";
import { ShimProcess } from "./process.ts";

export { INIT_PID_FILE, readPid };

export interface InitConfig {
  id: string;
  namespace: string;
  bundle: string;
  stdio: StdioPaths;
  runc: Runc;
  noPivot: boolean;
  noNewKeyring: boolean;
}

export class InitProcess extends ShimProcess {
  readonly bundle: string;
  private readonly runc: Runc;

  constructor(private readonly config: InitConfig) {
    super(config.id, config.id, config.stdio);
    this.bundle = config.bundle;
    this.runc = config.runc;
  }

  /** runc create; resolves with the init pid. Nothing is left open when it fails. */
  async create(): Promise<number> {
    const { id, bundle, stdio, runc } = this.config;
    const pidFile = join(bundle, INIT_PID_FILE);
    const pending = stdio.terminal ? await openTerminal(stdio) : undefined;
    try {
      if (!pending) this.io = await openProcessIO(stdio, { id, namespace: this.config.namespace });
      await runc.create(id, {
        bundle,
        pidFile,
        consoleSocket: pending?.socketPath,
        noPivot: this.config.noPivot,
        noNewKeyring: this.config.noNewKeyring,
        stdio: this.io?.stdio ?? {},
      });
      this.io?.started();
      if (pending) this.terminal = await pending.attach();
    } catch (e) {
      pending?.abort();
      await this.io?.close();
      this.io = undefined;
      throw e;
    }
    this.pid = readPid(pidFile);
    return this.pid;
  }

  async start(): Promise<void> {
    if (this.status !== "created") throw failedPrecondition(`cannot start a ${this.status} process`);
    await this.runc.start(this.id);
    // The exit may have been recorded while runc start ran (a quick `echo`): keep "stopped".
    if (this.status === "created") this.status = "running";
  }

  async pause(): Promise<void> {
    if (this.status !== "running") throw failedPrecondition(`cannot pause a ${this.status} process`);
    await this.runc.pause(this.id);
    this.status = "paused";
  }

  async resume(): Promise<void> {
    if (this.status !== "paused") throw failedPrecondition(`cannot resume a ${this.status} process`);
    await this.runc.resume(this.id);
    this.status = "running";
  }

  async kill(signal: number, all: boolean): Promise<void> {
    if (this.status === "stopped" || this.status === "deleted") {
      // runc can still signal what is left of a stopped container with --all.
      if (!all) throw notFoundFinished();
    }
    await this.runc.kill(this.id, signal, all);
  }

  /** runc delete and the IO released; the rootfs is the container's to unmount. */
  async delete(): Promise<void> {
    this.checkDeletable();
    const created = this.status === "created";
    // A created container still has its init waiting in runc: --force kills it.
    await this.runc.delete(this.id, created).catch((e) => {
      if (!/does not exist|not exist/i.test((e as Error).message)) throw e;
    });
    // Report the exit of that kill when the reaper sees it soon enough.
    if (created) await Promise.race([this.exited, Bun.sleep(1000)]);
    await this.closeIO();
    this.status = "deleted";
  }
}

/** containerd's answer for signalling a process that is gone. */
export const notFoundFinished = () => notFound("process already finished");
