/** What the init process and exec'd processes share: their stdio, their pid once runc started
 *  them, their state, and their exit (status 128+signal for a signal, as containerd reports). */
import { failedPrecondition } from "@bunkerd/plugin-api";
import type { ProcessIO, StdioPaths } from "../io.ts";
import type { Terminal } from "../terminal.ts";

/** containerd's process states (containerd.v1.types.Status, minus UNKNOWN and PAUSING). */
export type Status = "created" | "running" | "paused" | "stopped" | "deleted";

export abstract class ShimProcess {
  pid = 0;
  status: Status = "created";
  exitStatus = 0;
  exitedAt: Date | undefined;
  io: ProcessIO | undefined;
  terminal: Terminal | undefined;
  readonly exited: Promise<void>;
  private markExited!: () => void;
  /** Settles when a Start in progress has published its event, so that the exit comes after. */
  private starting: Promise<void> = Promise.resolve();

  constructor(
    /** The exec id, or the container id for the init process. */
    readonly id: string,
    readonly containerId: string,
    readonly stdio: StdioPaths,
  ) {
    this.exited = new Promise((resolve) => {
      this.markExited = resolve;
    });
  }

  get isInit(): boolean {
    return this.id === this.containerId;
  }

  get running(): boolean {
    return this.status === "running" || this.status === "paused";
  }

  /** Runs a Start, holding back exit handling until it has finished. */
  guardStart<T>(fn: () => Promise<T>): Promise<T> {
    const p = fn();
    this.starting = p.then(
      () => {},
      () => {},
    );
    return p;
  }

  /** Waits for a Start in progress, then records the exit once. Returns false if already done. */
  async recordExit(status: number, exitedAt: Date): Promise<boolean> {
    await this.starting;
    if (this.status === "stopped" || this.status === "deleted") return false;
    this.status = "stopped";
    this.exitStatus = status;
    this.exitedAt = exitedAt;
    this.markExited();
    return true;
  }

  /** Releases the stdio (after the exit: the terminal's output is copied out first). */
  async closeIO(): Promise<void> {
    const io = this.io;
    const terminal = this.terminal;
    this.io = undefined;
    this.terminal = undefined;
    await Promise.all([io?.close(), terminal?.close()]);
  }

  /** Deleting is allowed once the process has stopped (or never started). */
  checkDeletable(): void {
    if (this.running) throw failedPrecondition(`cannot delete a ${this.status} process`);
  }
}
