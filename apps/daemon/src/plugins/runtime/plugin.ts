/** io.containerd.runtime.v2.task: the task manager, in its own `runtime` worker beside the tasks
 *  service. Bundles under `<state>/io.containerd.runtime.v2.task/<ns>/<id>`, shim work dirs under
 *  `<root>/io.containerd.runtime.v2.task/<ns>/<id>`. On init it finds the shims left running by
 *  the previous daemon and reconnects to them (or cleans up after the dead ones).
 *
 *  Config, as containerd 1.6's `[plugins."io.containerd.runtime.v2.task"]`:
 *    platforms = ["linux/amd64"]   what `ctr plugins ls` shows for the runtime
 *    sched_core = false            start shims with SCHED_CORE=1 (a core-scheduling group per shim) */
import { mkdirSync } from "node:fs";
import { resolve } from "node:path";
import { definePlugin, invalidArgument, type Platform, PluginType } from "@bunkerd/plugin-api";
import type { ContainersLocal } from "../../services/containers/types.ts";
import type { TaskManager } from "./manager.ts";

export const RUNTIME_WORKER = PluginType.RuntimeV2;

export interface RuntimeConfig {
  platforms: string[];
  sched_core: boolean;
}

const GOARCH: Record<string, string> = {
  x64: "amd64",
  arm64: "arm64",
  arm: "arm",
  ppc64: "ppc64le",
  s390x: "s390x",
};
const hostPlatform = `linux/${GOARCH[process.arch] ?? process.arch}`;

export function parseRuntimeConfig(raw: Record<string, unknown>): RuntimeConfig {
  const platforms = raw.platforms ?? [hostPlatform];
  if (!Array.isArray(platforms) || platforms.some((p) => typeof p !== "string")) {
    throw invalidArgument("platforms: must be an array of strings");
  }
  for (const p of platforms as string[]) parsePlatform(p);
  const schedCore = raw.sched_core ?? false;
  if (typeof schedCore !== "boolean") throw invalidArgument("sched_core: must be true or false");
  return { platforms: platforms as string[], sched_core: schedCore };
}

function parsePlatform(p: string): Platform {
  const [os, architecture, variant, extra] = p.split("/");
  if (!os || !architecture || extra !== undefined) {
    throw invalidArgument(`platforms: "${p}": invalid platform (want os/arch[/variant])`);
  }
  return variant ? { os, architecture, variant } : { os, architecture };
}

/** What shims exec to publish: the compiled bunkerd itself, or the checkout's launcher. */
export function publishBinary(): string {
  if (import.meta.dir.startsWith("/$bunfs")) return process.execPath;
  return resolve(import.meta.dir, "../../../../../bin/bunkerd");
}

export default definePlugin<RuntimeConfig, TaskManager>({
  type: PluginType.RuntimeV2,
  id: "task",
  requires: [PluginType.Event, PluginType.Metadata],
  worker: RUNTIME_WORKER,
  config: { platforms: [hostPlatform], sched_core: false },
  parseConfig: parseRuntimeConfig,
  platforms: [parsePlatform(hostPlatform)],
  async init(ctx) {
    const { TaskManager } = await import("./manager.ts");
    mkdirSync(ctx.root, { recursive: true, mode: 0o711 });
    mkdirSync(ctx.state, { recursive: true, mode: 0o711 });
    const manager = new TaskManager({
      root: ctx.root,
      state: ctx.state,
      address: ctx.grpcAddress,
      ttrpcAddress: ctx.ttrpcAddress,
      publishBinary: publishBinary(),
      schedCore: ctx.config.sched_core,
      events: ctx.events,
      log: ctx.log,
      // Only for bundles made without a shim-binary-path file.
      async runtimeOf(namespace, id) {
        const containers = await ctx.get<ContainersLocal>(PluginType.Service, "containers-service");
        return (await containers.get(namespace, id)).runtime.name;
      },
    });
    await manager.loadExisting();
    return manager;
  },
});
