/** What runs inside a plugin worker. The host drives it with control calls:
 *  `$load` (its name, the plan, log settings), `$init` (one plugin), `$accept` (a port from
 *  another worker), `$dump` (state for SIGUSR1), `$crash` (tests). API calls and proxied
 *  plugin calls go to the runtime. */
import type { EventPayload } from "../plugin.ts";
import { type IncomingCall, PortPeer, type PortLike } from "../port/peer.ts";
import { createLogger, type LogSettings } from "./log.ts";
import { type InitData, type PlannedPlugin, type PluginModule, PluginRuntime } from "./runtime.ts";

export function serveWorker(builtins: Record<string, PluginModule>) {
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
          builtins,
        );
        return runtime.load(plan);
      }
      case "$init": {
        const [uri, data] = call.args as [string, InitData];
        return ready().init(uri, data);
      }
      case "$accept": {
        new PortPeer(call.args[0] as MessagePort, "peer").serve(ready().handle);
        return Promise.resolve(true);
      }
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
