/** Test helper: a throwaway runc container from a busybox-only rootfs, with its own runc --root,
 *  so the sys tests can drive real runc the way the shim does (create, start, delete). */
import {
  closeSync,
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Reaper } from "../reaper.ts";

export const hasRunc = Bun.which("runc") !== null && process.getuid?.() === 0;

export type BundleOptions = {
  args: string[];
  terminal?: boolean;
  /** linux.resources.memory.limit, bytes */
  memoryLimit?: number;
};

export class RuncBundle {
  readonly id = `bunkerd-sys-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  readonly dir = mkdtempSync(join(tmpdir(), "bunkerd-sys-bundle-"));
  readonly root = join(this.dir, "runc-root");
  readonly pidFile = join(this.dir, "init.pid");
  #created = false;

  private constructor(readonly reaper: Reaper) {}

  static async create(reaper: Reaper, opts: BundleOptions): Promise<RuncBundle> {
    const b = new RuncBundle(reaper);
    try {
      const bin = join(b.dir, "rootfs", "bin");
      mkdirSync(bin, { recursive: true });
      copyFileSync("/bin/busybox", join(bin, "busybox"));
      const applets = Bun.spawnSync(["/bin/busybox", "--list"]).stdout.toString().split("\n").filter(Boolean);
      for (const a of applets) if (a !== "busybox") symlinkSync("busybox", join(bin, a));
      const spec = Bun.spawnSync(["runc", "spec", "--bundle", b.dir], { stderr: "pipe" });
      if (spec.exitCode !== 0) throw new Error(`runc spec: ${spec.stderr.toString()}`);
      const configPath = join(b.dir, "config.json");
      const config = JSON.parse(readFileSync(configPath, "utf8"));
      config.process.args = opts.args;
      config.process.terminal = opts.terminal ?? false;
      config.process.env = ["PATH=/bin", "TERM=xterm"];
      config.linux.cgroupsPath = `/${b.id}`;
      if (opts.memoryLimit !== undefined) {
        // Swap too: with only a memory limit the kernel may swap instead of invoking the OOM killer.
        config.linux.resources = {
          ...config.linux.resources,
          memory: { limit: opts.memoryLimit, swap: opts.memoryLimit },
        };
      }
      writeFileSync(configPath, JSON.stringify(config, null, 2));
    } catch (e) {
      rmSync(b.dir, { recursive: true, force: true });
      throw e;
    }
    return b;
  }

  /** Runs runc with this bundle's --root. Its output goes through files, not pipes: a container
   *  without a terminal inherits runc's stdio, and a pipe held by it would never reach EOF. */
  async runc(args: string[]): Promise<string> {
    const out = join(this.dir, "runc.out");
    const err = join(this.dir, "runc.err");
    const [stdout, stderr] = [openSync(out, "w"), openSync(err, "w")];
    try {
      const r = await this.reaper.exec(["runc", "--root", this.root, ...args], { stdout, stderr });
      if (r.code !== 0)
        throw new Error(`runc ${args.join(" ")}: exit ${r.code}: ${readFileSync(err, "utf8")}`);
      return readFileSync(out, "utf8");
    } finally {
      closeSync(stdout);
      closeSync(stderr);
    }
  }

  /** `runc create`; returns the init pid. */
  async createContainer(consoleSocket?: string): Promise<number> {
    this.#created = true;
    const sock = consoleSocket ? ["--console-socket", consoleSocket] : [];
    await this.runc(["create", "--bundle", this.dir, "--pid-file", this.pidFile, ...sock, this.id]);
    return Number(readFileSync(this.pidFile, "utf8"));
  }

  start(): Promise<string> {
    return this.runc(["start", this.id]);
  }

  /** Deletes the container (forced) and the bundle. */
  async cleanup(): Promise<void> {
    try {
      if (this.#created) await this.runc(["delete", "--force", this.id]).catch(() => {});
    } finally {
      rmSync(this.dir, { recursive: true, force: true });
    }
  }
}
