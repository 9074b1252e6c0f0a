/** A process exec'd in a running container: its OCI process spec is written to a file in the
 *  bundle and started with `runc exec --detach --process`; signals go straight to its pid. */
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { failedPrecondition } from "@bunkerd/plugin-api";
import { openProcessIO, type StdioPaths } from "../io.ts";
import type { Runc } from "../runc.ts";
import { openTerminal } from "../terminal.ts";
import { notFoundFinished, readPid } from "./init.ts";
import { ShimProcess } from "./process.ts";

export interface ExecConfig {
  execId: string;
  containerId: string;
  namespace: string;
  bundle: string;
  stdio: StdioPaths;
  /** The OCI process spec, as JSON. */
  spec: Uint8Array;
  runc: Runc;
}

export class ExecProcess extends ShimProcess {
  constructor(private readonly config: ExecConfig) {
    super(config.execId, config.containerId, config.stdio);
  }

  private get files() {
    const base = join(this.config.bundle, `exec-${this.id}`);
    return { process: `${base}.json`, pid: `${base}.pid` };
  }

  /** runc exec --detach; resolves with the pid. */
  async start(): Promise<number> {
    if (this.status !== "created") throw failedPrecondition(`cannot start a ${this.status} process`);
    const { containerId, namespace, stdio, runc, spec } = this.config;
    const files = this.files;
    writeFileSync(files.process, spec, { mode: 0o600 });
    const pending = stdio.terminal ? await openTerminal(stdio) : undefined;
    try {
      if (!pending) this.io = await openProcessIO(stdio, { id: containerId, namespace });
      await runc.execDetached(containerId, {
        processFile: files.process,
        pidFile: files.pid,
        consoleSocket: pending?.socketPath,
        stdio: this.io?.stdio ?? {},
      });
      this.io?.started();
      if (pending) this.terminal = await pending.attach();
      this.pid = readPid(files.pid);
    } catch (e) {
      pending?.abort();
      await this.io?.close();
      this.io = undefined;
      throw e;
    } finally {
      rmSync(files.process, { force: true });
      rmSync(files.pid, { force: true });
    }
    if (this.status === "created") this.status = "running";
    return this.pid;
  }

  kill(signal: number): void {
    if (this.status === "created") throw failedPrecondition("process not started");
    if (this.status !== "running" && this.status !== "paused") throw notFoundFinished();
    try {
      process.kill(this.pid, signal);
    } catch (e) {
      if ((e as { code?: string }).code === "ESRCH") throw notFoundFinished();
      throw e;
    }
  }

  async delete(): Promise<void> {
    this.checkDeletable();
    await this.closeIO();
    this.status = "deleted";
  }
}
