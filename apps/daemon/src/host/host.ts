/** The plugin host: reads every plugin record, orders the graph, starts one Bun worker per
 *  worker group, inits each plugin where it lives, and routes API calls to the worker that
 *  serves them. It also brokers ports between workers, carries events from workers to the
 *  exchange, and notices when a worker dies.
 *
 *  Boot order: all workers start at once, and each plugin inits as soon as what it requires
 *  has finished and its worker is free, so plugins of different workers init at the same
 *  time. Within a worker inits run one at a time in graph order (as containerd runs them
 *  all); a plugin whose dependencies failed still inits, and finds them missing. */
import { join } from "node:path";
import {
  BunkerError,
  type CallContext,
  type EventPayload,
  HOST,
  type InitData,
  type InitResult,
  importModule,
  invalidArgument,
  Kind,
  type LogSettings,
  type Logger,
  type ModuleSource,
  missingRequired,
  orderPlugins,
  type PlannedPlugin,
  type Platform,
  type PluginModule,
  type PluginRecord,
  PluginRuntime,
  PortPeer,
  type Route,
  type Router,
  recordsOf,
  toBunkerError,
  traceBoot,
  uriOf,
  type WireCallContext,
  afterBoot,
  workerOf,
} from "@bunkerd/plugin-api";
import { type Prestarted, startWorker } from "./prestart.ts";

export type PluginState = "ok" | "skip" | "error" | "pending";

/** What introspection shows for one plugin. */
export interface PluginStatus {
  type: string;
  id: string;
  requires: string[];
  platforms: Platform[];
  exports: Record<string, string>;
  capabilities: string[];
  state: PluginState;
  worker: string;
  error?: { code: number; message: string };
}

export interface HostOptions {
  /** Modules with plugin records, by name (bundled builtins). The host reads every record;
   *  a worker imports only the modules of its own plugins. */
  builtins: Record<string, ModuleSource>;
  /** Records built on the main thread that close over host objects (version, events, …). */
  hostRecords: PluginRecord<unknown, unknown>[];
  /** Extra plugin modules loaded from disk (plugin_dir), by absolute path. */
  external?: string[];
  root: string;
  state: string;
  grpcAddress: string;
  ttrpcAddress: string;
  disabled: string[];
  required: string[];
  /** Raw `[plugins."<type>.<id>"]` sections. */
  pluginConfig: Record<string, Record<string, unknown>>;
  logSettings: LogSettings;
  log: Logger;
  publish(namespace: string, topic: string, event: EventPayload): Promise<void>;
  /** Entry module of plugin workers. */
  workerEntry: string | URL;
  /** Workers started ahead (prestart.ts), by group: adopted when the plan uses the group,
   *  ended otherwise. */
  prestarted?: Map<string, Prestarted>;
}

interface WorkerSlot {
  name: string;
  worker: Worker;
  peer: PortPeer;
  alive: boolean;
}

const HOST_MODULE = "$host";

export class PluginHost implements Router {
  private readonly statuses: PluginStatus[] = [];
  private readonly routes = new Map<string, Route>();
  private readonly ttrpcRoutes = new Map<string, Route>();
  private readonly workers = new Map<string, WorkerSlot>();
  private runtime!: PluginRuntime;
  private plan: PlannedPlugin[] = [];

  constructor(private readonly opts: HostOptions) {}

  /** Boot: plan, spawn workers, init (see the file's comment). Throws when a required plugin
   *  fails. */
  async start(): Promise<void> {
    const { opts } = this;
    const byUri = new Map<string, { record: PluginRecord<unknown, unknown>; module: string }>();
    const add = (record: PluginRecord<unknown, unknown>, module: string) => {
      const uri = uriOf(record);
      if (byUri.has(uri)) throw invalidArgument(`plugin ${uri} registered twice`);
      byUri.set(uri, { record, module });
    };
    for (const r of opts.hostRecords) add({ ...r, worker: HOST }, HOST_MODULE);
    const builtinNames = Object.keys(opts.builtins);
    const builtinMods = await Promise.all(builtinNames.map((n) => importModule(opts.builtins, n)));
    builtinNames.forEach((name, i) => {
      for (const r of recordsOf(builtinMods[i]!)) add(r, name);
    });
    for (const path of opts.external ?? []) {
      const mod = (await import(path)) as PluginModule;
      for (const r of recordsOf(mod)) add(r, path);
    }
    const all = [...byUri.values()].map((x) => x.record);
    const missing = missingRequired(all, opts.required, opts.disabled);
    if (missing.length > 0)
      throw invalidArgument(`required plugin(s) not registered or disabled: ${missing.join(", ")}`);
    const ordered = orderPlugins(all, { disabled: opts.disabled });
    // An experiment, not a setting: worker groups named here (comma-separated) run on this
    // thread, so their calls cost no port hop (bench/lib/rpc-latency.ts --on-host). Their
    // synchronous work (SQLite commits and their fsyncs for the metadata group) then stalls
    // every other call, which is why the groups are workers.
    const onHost = new Set((process.env.BUNKERD_EXPERIMENT_ON_HOST ?? "").split(",").filter(Boolean));
    this.plan = ordered.map((r) => ({
      type: r.type,
      id: r.id,
      worker: onHost.has(workerOf(r)) ? HOST : workerOf(r),
      module: byUri.get(uriOf(r))!.module,
    }));

    const hostModule: PluginModule = { plugins: opts.hostRecords.map((r) => ({ ...r, worker: HOST })) };
    this.runtime = new PluginRuntime(
      HOST,
      {
        connect: async (worker) => new PortPeer(await this.portTo(worker), `host->${worker}`),
        publish: opts.publish,
        log: () => opts.log,
      },
      { ...opts.builtins, [HOST_MODULE]: hostModule },
    );
    traceBoot(HOST, "planned");
    const groups = [...new Set(this.plan.map((p) => p.worker))].filter((w) => w !== HOST);
    for (const [name, p] of opts.prestarted ?? []) {
      if (groups.includes(name)) continue;
      p.worker.terminate();
      opts.prestarted?.delete(name);
    }
    const spawned = new Map(groups.map((g) => [g, this.spawn(g)]));
    // A worker that cannot load fails the boot (below); its plugins show the error meanwhile.
    for (const s of spawned.values()) s.catch(() => {});
    await this.runtime.load(this.plan);

    // Statuses in plan order (introspection lists them so), whatever order inits finish in.
    const statuses = ordered.map((r, i) => this.newStatus(r, this.plan[i]!));
    const settled: Promise<void>[] = [];
    const workerTail = new Map<string, Promise<void>>();
    ordered.forEach((r, i) => {
      const p = this.plan[i]!;
      const deps = dependencies(ordered, i).map((j) => settled[j]!);
      const ready = Promise.all([
        ...deps,
        workerTail.get(p.worker) ?? (p.worker === HOST ? undefined : spawned.get(p.worker)),
      ]);
      const done = ready.then(
        () => this.initOne(r, p, statuses[i]!),
        (e) => this.failed(r, statuses[i]!, e),
      );
      settled.push(done);
      workerTail.set(p.worker, done);
    });
    await Promise.all(settled);
    await Promise.all(spawned.values());
    traceBoot(HOST, "plugins settled");
    const failed = this.statuses.filter(
      (s) => opts.required.includes(`${s.type}.${s.id}`) && s.state !== "ok",
    );
    if (failed.length > 0) {
      const s = failed[0]!;
      throw new BunkerError(
        Kind.FailedPrecondition,
        `required plugin ${s.type}.${s.id} did not start: ${s.error?.message ?? s.state}`,
      );
    }
  }

  private newStatus(r: PluginRecord<unknown, unknown>, p: PlannedPlugin): PluginStatus {
    const status: PluginStatus = {
      type: r.type,
      id: r.id,
      requires: r.requires ?? [],
      platforms: r.platforms ?? [],
      exports: {},
      capabilities: [],
      state: "pending",
      worker: p.worker,
    };
    this.statuses.push(status);
    return status;
  }

  private failed(r: PluginRecord<unknown, unknown>, status: PluginStatus, e: unknown) {
    const err = toBunkerError(e);
    status.state = "error";
    status.error = { code: err.code, message: err.message };
    this.opts.log.warn(`failed to load plugin ${uriOf(r)}`, err.message);
  }

  private async initOne(r: PluginRecord<unknown, unknown>, p: PlannedPlugin, status: PluginStatus) {
    const uri = uriOf(r);
    try {
      const data: InitData = {
        root: join(this.opts.root, uri),
        state: join(this.opts.state, uri),
        config: pluginConfig(r, this.opts.pluginConfig[uri]),
        grpcAddress: this.opts.grpcAddress,
        ttrpcAddress: this.opts.ttrpcAddress,
      };
      const started = performance.now();
      traceBoot(p.worker, `init ${uri}`);
      const res = (
        p.worker === HOST
          ? await this.runtime.init(uri, data)
          : await this.slot(p.worker).peer.call("$init", [uri, data])
      ) as InitResult;
      if (res.status === "skip") {
        status.state = "skip";
        // ctr decides "skip" from the message: containerd's ErrSkipPlugin reads "skip plugin".
        status.error = { code: 2, message: `${res.reason}: skip plugin` };
        this.opts.log.info(`skip loading plugin "${uri}"...`, res.reason);
        return;
      }
      status.state = "ok";
      status.exports = res.exports;
      status.capabilities = res.capabilities;
      for (const svc of res.services) {
        const route = p.worker === HOST ? this.runtime.route(svc.path)! : this.forward(p.worker, svc);
        if (svc.grpc) this.routes.set(svc.path, route);
        if (svc.ttrpc) this.ttrpcRoutes.set(svc.path, route);
      }
      traceBoot(p.worker, `done ${uri}`);
      this.opts.log.debug(`loaded plugin "${uri}" in ${(performance.now() - started).toFixed(1)}ms`);
    } catch (e) {
      this.failed(r, status, e);
    }
  }

  /** A route whose handler lives in a worker: the bytes go over the port unchanged. */
  private forward(worker: string, svc: { path: string; kind: Route["kind"]; namespaced: boolean }): Route {
    const slot = () => this.slot(worker);
    return {
      path: svc.path,
      kind: svc.kind,
      namespaced: svc.namespaced,
      invoke(req, ctx: CallContext) {
        const { signal, ...rest } = ctx;
        const opts = { ctx: rest as WireCallContext, signal };
        const { peer } = slot();
        switch (svc.kind) {
          case "unary":
            return peer.call(svc.path, [req], opts) as Promise<Uint8Array>;
          case "server_streaming":
            return peer.stream(svc.path, [req], opts) as AsyncIterable<Uint8Array>;
          case "client_streaming":
            return peer.call(svc.path, [], {
              ...opts,
              input: req as AsyncIterable<Uint8Array>,
            }) as Promise<Uint8Array>;
          case "bidi_streaming":
            return peer.stream(svc.path, [], {
              ...opts,
              input: req as AsyncIterable<Uint8Array>,
            }) as AsyncIterable<Uint8Array>;
        }
      },
    };
  }

  lookup(path: string): Route | undefined {
    return this.routes.get(path);
  }

  /** Whether any method of `service` is served (grpc-go words unknown methods by it). */
  hasService(service: string): boolean {
    const prefix = `/${service}/`;
    for (const p of this.routes.keys()) if (p.startsWith(prefix)) return true;
    return false;
  }

  /** Routes served on the ttrpc socket. */
  readonly ttrpc: Router = { lookup: (path) => this.ttrpcRoutes.get(path) };

  plugins(): readonly PluginStatus[] {
    return this.statuses;
  }

  /** A plugin instance or proxy, from the host's side. */
  get<T>(type: string, id?: string): Promise<T> {
    return this.runtime.get<T>(type, id);
  }

  async dump(): Promise<unknown> {
    const workers = await Promise.all(
      [...this.workers.values()].map(async (w) =>
        w.alive
          ? await w.peer.call("$dump").catch((e) => ({ worker: w.name, error: String(e) }))
          : { worker: w.name, alive: false },
      ),
    );
    return {
      host: this.runtime.dump(),
      workers,
      plugins: this.statuses.map((s) => `${s.type}.${s.id}=${s.state}`),
    };
  }

  /** Once serving: every thread (each worker at once, and this one) goes back to the normal
   *  JIT policy and frees what booting left behind, ~3–5 MiB in all (bench/RESULTS.md, boot
   *  and memory). */
  async afterBoot(): Promise<void> {
    const calls = [...this.workers.values()]
      .filter((w) => w.alive)
      .map((w) => w.peer.call("$booted").catch(() => {}));
    afterBoot();
    await Promise.all(calls);
  }

  /** Make a worker crash as a fault would (tests, and `bunkerd` debugging). */
  async crashWorker(name: string): Promise<void> {
    await this.slot(name).peer.call("$crash");
  }

  workerNames(): string[] {
    return [...this.workers.keys()];
  }

  async stop(): Promise<void> {
    for (const p of this.opts.prestarted?.values() ?? []) p.worker.terminate();
    this.opts.prestarted?.clear();
    for (const w of this.workers.values()) {
      w.alive = false;
      w.peer.fail(`worker ${w.name} stopped`);
      w.worker.terminate();
    }
    this.workers.clear();
  }

  private slot(name: string): WorkerSlot {
    const s = this.workers.get(name);
    if (!s) throw new BunkerError(Kind.Unavailable, `worker ${name} is not running`);
    return s;
  }

  private async spawn(name: string): Promise<void> {
    const started = this.opts.prestarted?.get(name) ?? startWorker(this.opts.workerEntry, name);
    this.opts.prestarted?.delete(name);
    const { worker } = started;
    const peer = new PortPeer(
      worker as unknown as ConstructorParameters<typeof PortPeer>[0],
      `host->${name}`,
    );
    const slot: WorkerSlot = { name, worker, peer, alive: true };
    this.workers.set(name, slot);
    peer.serve((call) => {
      switch (call.target) {
        case "$connect":
          return this.portTo(call.args[0] as string);
        case "$publish": {
          const [ns, topic, ev] = call.args as [string, string, EventPayload];
          return this.opts.publish(ns, topic, ev);
        }
        default:
          return Promise.reject(new BunkerError(Kind.NotImplemented, `host call ${call.target}`));
      }
    });
    const died = (why: string) => {
      if (!slot.alive) return;
      slot.alive = false;
      peer.fail(`worker ${name} exited: ${why}`);
      for (const s of this.statuses) {
        if (s.worker === name && s.state === "ok") {
          s.state = "error";
          s.error = { code: 14, message: `worker ${name} exited: ${why}` };
        }
      }
      this.opts.log.error(`plugin worker ${name} exited; its plugins are unavailable`, {
        error: why.split("\n").find((l) => l.startsWith("error:")) ?? why.split("\n")[0],
      });
    };
    worker.addEventListener("error", (ev) => died((ev as ErrorEvent).message ?? "error"));
    worker.addEventListener("close", () => died("closed"));
    if (started.exited) died(started.exited);
    await peer.call("$load", [name, this.plan, this.opts.logSettings]);
    traceBoot(HOST, `loaded ${name}`);
  }

  /** A port into `worker`'s runtime (or the host's), for a plugin proxy elsewhere. */
  private async portTo(worker: string): Promise<MessagePort> {
    const { port1, port2 } = new MessageChannel();
    if (worker === HOST) new PortPeer(port2, "host<-peer").serve(this.runtime.handle);
    else await this.slot(worker).peer.call("$accept", [port2]);
    return port1;
  }
}

/** Plan positions that plugin `i` waits for: what it requires (by type or URI), or, for "*",
 *  every plugin before it. The order already puts all of them before `i`. */
function dependencies(ordered: PluginRecord<unknown, unknown>[], i: number): number[] {
  const r = ordered[i]!;
  const reqs = r.requires ?? [];
  if (reqs.includes("*")) return ordered.slice(0, i).map((_, j) => j);
  const out: number[] = [];
  for (let j = 0; j < i; j++) {
    const d = ordered[j]!;
    if (reqs.some((q) => d.type === q || uriOf(d) === q)) out.push(j);
  }
  return out;
}

/** Defaults deep-merged with the config file's section, then parsed by the plugin. */
function pluginConfig(r: PluginRecord<unknown, unknown>, raw: Record<string, unknown> | undefined): unknown {
  const merged = deepMerge((r.config ?? {}) as Record<string, unknown>, raw ?? {});
  return r.parseConfig ? r.parseConfig(merged) : merged;
}

function deepMerge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const cur = out[k];
    out[k] =
      cur && v && typeof cur === "object" && typeof v === "object" && !Array.isArray(cur) && !Array.isArray(v)
        ? deepMerge(cur as Record<string, unknown>, v as Record<string, unknown>)
        : v;
  }
  return out;
}
