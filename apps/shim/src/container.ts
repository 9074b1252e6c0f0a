/** One container in this shim: its bundle, its runc, its rootfs mount, its init process and the
 *  processes exec'd in it. Create mounts the rootfs into `<bundle>/rootfs` and runs runc create;
 *  a failure at any step undoes the earlier ones. */
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { alreadyExists, invalidArgument, notFound } from "@bunkerd/plugin-api";
import type { Mount } from "@bunkerd/snapshotters";
import { mountAll, unmountAll } from "@bunkerd/snapshotters/mount";
import type { StdioPaths } from "./io.ts";
import type { RuncOptions } from "./options.ts";
import { ExecProcess } from "./process/exec.ts";
import { InitProcess } from "./process/init.ts";
import type { ShimProcess } from "./process/process.ts";
import { type Exec, Runc } from "./runc.ts";

export interface CreateConfig {
  id: string;
  namespace: string;
  bundle: string;
  rootfs: Mount[];
  stdio: StdioPaths;
  options: RuncOptions;
  exec: Exec;
}

export class Container {
  readonly execs = new Map<string, ExecProcess>();
  /** Stops the OOM watch; set once the init runs. */
  oomWatch: { close(): void } | undefined;
  /** Set while the task is being deleted: its init's exit is no event then. */
  deleting = false;

  private constructor(
    readonly id: string,
    readonly namespace: string,
    readonly bundle: string,
    readonly runc: Runc,
    readonly init: InitProcess,
    /** The rootfs mount point when the shim mounted it (Create had rootfs mounts). */
    readonly rootfsMounted: string | undefined,
    /** Without its own pid namespace, the container's other processes outlive its init. */
    readonly sharesHostPids: boolean,
  ) {}

  static async create(c: CreateConfig): Promise<Container> {
    const runc = new Runc(c.exec, c.options, c.namespace, c.bundle);
    const spec = readSpec(c.bundle);
    let rootfs: string | undefined;
    if (c.rootfs.length > 0) {
      rootfs = join(c.bundle, "rootfs");
      mkdirSync(rootfs, { recursive: true, mode: 0o711 });
      try {
        await mountAll(c.rootfs, rootfs);
      } catch (e) {
        await unmountAll(rootfs).catch(() => {});
        throw e;
      }
    }
    const init = new InitProcess({
      id: c.id,
      namespace: c.namespace,
      bundle: c.bundle,
      stdio: c.stdio,
      runc,
      noPivot: c.options.noPivotRoot,
      noNewKeyring: c.options.noNewKeyring,
    });
    try {
      await init.create();
    } catch (e) {
      await runc.delete(c.id, true).catch(() => {});
      if (rootfs) await unmountAll(rootfs).catch(() => {});
      throw e;
    }
    const pidns = spec.linux?.namespaces?.some((n) => n.type === "pid" && !n.path) ?? false;
    return new Container(c.id, c.namespace, c.bundle, runc, init, rootfs, !pidns);
  }

  /** The init process for an empty exec id, else that exec'd process. */
  process(execId: string): ShimProcess {
    if (execId === "") return this.init;
    const p = this.execs.get(execId);
    if (!p) throw notFound(`process ${execId} does not exist`);
    return p;
  }

  addExec(execId: string, stdio: StdioPaths, spec: Uint8Array): ExecProcess {
    if (execId === "" || execId === this.id) throw invalidArgument(`exec id ${JSON.stringify(execId)}`);
    if (this.execs.has(execId)) throw alreadyExists(`id ${execId}`);
    const p = new ExecProcess({
      execId,
      containerId: this.id,
      namespace: this.namespace,
      bundle: this.bundle,
      stdio,
      spec,
      runc: this.runc,
    });
    this.execs.set(execId, p);
    return p;
  }

  /** Deletes the init (runc delete) and unmounts the rootfs. */
  async delete(): Promise<void> {
    await this.init.delete();
    this.oomWatch?.close();
    this.oomWatch = undefined;
    for (const p of this.execs.values()) await p.closeIO();
    if (this.rootfsMounted) await unmountAll(this.rootfsMounted);
  }
}

interface SpecLite {
  linux?: { namespaces?: { type: string; path?: string }[] };
}

function readSpec(bundle: string): SpecLite {
  const path = join(bundle, "config.json");
  try {
    return JSON.parse(readFileSync(path, "utf8"));
  } catch (e) {
    throw invalidArgument(`read OCI spec ${path}: ${(e as Error).message}`);
  }
}
