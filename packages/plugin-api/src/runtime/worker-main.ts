/** What runs inside a plugin worker. The host drives it with control calls:
 *  `$load` (its name, the plan, log settings), `$init` (one plugin), `$accept` (a port from
 *  another worker), `$booted` (after boot), `$dump` (state for SIGUSR1), `$crash` (tests). API
 *  calls and proxied plugin calls go to the runtime. */
import { workerData } from "node:worker_threads";
import type { EventPayload } from "../plugin.ts";
import { type IncomingCall, PortPeer, type PortLike } from "../port/peer.ts";
import { traceBoot } from "./boot-trace.ts";
import { createLogger, type LogSettings } from "./log.ts";
import {
  type InitData,
  importModule,
  type ModuleSource,
  type PlannedPlugin,
  PluginRuntime,
} from "./runtime.ts";

/** Once the daemon serves, on every thread: back to the normal JIT policy (a compiled bunkerd
 *  may start with a raised one, `--compile-jit-policy`, so start-up code stays interpreted),
 *  and one full collection of what start-up left (module records, parsed descriptors). */
export function afterBoot(): void {
  Bun.unsafe.setJITPolicy(1);
  Bun.gc(true);
}

/** `builtins`: the bundled modules by name; pass loaders (`() => import(…)`) so this worker
 *  evaluates only the modules of its own plugins. */
export function serveWorker(builtins: Record<string, ModuleSource>) {
  traceBoot("worker", "evaluated");
  // Started ahead of its plan, a worker is told the modules it will likely serve: importing
  // them now overlaps the host's start-up. `$load` takes the same imports, errors included.
  const preload = (workerData as { preload?: string[] } | null)?.preload ?? [];
  const sources: Record<string, ModuleSource> = { ...builtins };
  for (const spec of preload) {
    const loading = importModule(builtins, spec);
    loading.catch(() => {}); // reported by $load, if the plan uses the module
    sources[spec] = () => loading;
  }
  const host = new PortPeer(globalThis as unknown as PortLike, "host");
  let settings: LogSettings = { level: "info", format: "text" };
  let runtime: PluginRuntime | undefined;
  const ready = () => {
    if (!runtime) throw new Error("worker not loaded");
    return runtime;
  };

  host.serve((call: IncomingCall) => {
    switch (call.target) {
      case "$load": {
        const [name, plan, log] = call.args as [string, PlannedPlugin[], LogSettings];
        settings = log;
        runtime = new PluginRuntime(
          name,
          {
            async connect(worker) {
              const port = (await host.call("$connect", [worker])) as MessagePort;
              return new PortPeer(port, `${name}->${worker}`);
            },
            async publish(namespace: string, topic: string, event: EventPayload) {
              await host.call("$publish", [namespace, topic, event]);
            },
            log: (uri) => createLogger(settings, { plugin: uri }),
          },
          sources,
        );
        return runtime.load(plan).then(() => traceBoot(name, "modules loaded"));
      }
      case "$init": {
        const [uri, data] = call.args as [string, InitData];
        return ready().init(uri, data);
      }
      case "$accept": {
        new PortPeer(call.args[0] as MessagePort, "peer").serve(ready().handle);
        return Promise.resolve(true);
      }
      case "$booted":
        afterBoot();
        return Promise.resolve(true);
      case "$dump":
        return Promise.resolve(ready().dump());
      case "$crash":
        // Tests use this to make the worker die the way a crash would.
        setTimeout(() => {
          throw new Error("worker crashed on request");
        });
        return Promise.resolve(true);
      default:
        return ready().handle(call);
    }
  });
}
