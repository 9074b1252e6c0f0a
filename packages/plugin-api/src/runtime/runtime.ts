/** The plugin runtime: what runs plugins inside one thread (a worker, or the host's main
 *  thread for router-level plugins). It imports plugin modules, inits the plugins the host
 *  assigns to it, serves their API routes and proxied method calls on its ports, and reaches
 *  plugins elsewhere through ports the host brokers. */
import type { DescService } from "@bufbuild/protobuf";
import { BunkerError, Kind, notFound, toBunkerError, unavailable } from "../errors/kinds.ts";
import {
  type EventPayload,
  type InitContext,
  isSkip,
  type Logger,
  type PluginRecord,
  type ServiceOptions,
  uriOf,
} from "../plugin.ts";
import type { IncomingCall, PortPeer } from "../port/peer.ts";
import { type ServiceHandlers, serviceRoutes } from "../rpc/handlers.ts";
import type { CallContext, MethodKind, Route } from "../rpc/route.ts";

/** One planned plugin, as the host tells every runtime. */
export interface PlannedPlugin {
  type: string;
  id: string;
  worker: string;
  module: string;
}

export interface InitData {
  root: string;
  state: string;
  config: unknown;
  grpcAddress: string;
  ttrpcAddress: string;
}

export interface ServiceInfo {
  path: string;
  kind: MethodKind;
  namespaced: boolean;
  grpc: boolean;
  ttrpc: boolean;
}

export type InitResult =
  | { status: "ok"; exports: Record<string, string>; capabilities: string[]; services: ServiceInfo[] }
  | { status: "skip"; reason: string };

/** How a runtime reaches the world outside its thread. */
export interface RuntimeLinks {
  /** A peer talking to the runtime of `worker`. */
  connect(worker: string): Promise<PortPeer>;
  publish(namespace: string, topic: string, event: EventPayload): Promise<void>;
  log(uri: string): Logger;
}

const PLUGIN_CALL = "plugin:";

/** A module that registers plugins: its default export is one record or a list of them. */
export type PluginModule = {
  default?: PluginRecord<unknown, unknown> | PluginRecord<unknown, unknown>[];
  plugins?: PluginRecord<unknown, unknown>[];
};

/** A bundled module, already imported or imported on first use: each worker then evaluates
 *  only the modules of its own plugins (a module's descriptors and code cost every VM that
 *  imports it time and memory). */
export type ModuleSource = PluginModule | (() => Promise<PluginModule>);

/** The records a module registers. */
export function recordsOf(mod: PluginModule): PluginRecord<unknown, unknown>[] {
  return ([] as PluginRecord<unknown, unknown>[]).concat(mod.default ?? [], mod.plugins ?? []);
}

/** Import a module by its bundled name, or from disk when it is not bundled. */
export async function importModule(
  builtins: Record<string, ModuleSource>,
  spec: string,
): Promise<PluginModule> {
  const b = builtins[spec];
  if (typeof b === "function") return await b();
  return b ?? ((await import(spec)) as PluginModule);
}

export class PluginRuntime {
  private readonly records = new Map<string, PluginRecord<unknown, unknown>>();
  private readonly instances = new Map<string, unknown>();
  private readonly routes = new Map<string, Route>();
  private readonly servicesOf = new Map<string, ServiceInfo[]>();
  private plan: PlannedPlugin[] = [];
  /** Plan position by URI: the plan is in init order. */
  private readonly position = new Map<string, number>();
  /** This runtime's plugins whose init has not finished (ok, skip or error) yet. */
  private readonly unsettled = new Map<string, { done: Promise<void>; settle: () => void }>();
  private readonly peers = new Map<string, Promise<PortPeer>>();

  constructor(
    readonly worker: string,
    private readonly links: RuntimeLinks,
    /** Modules bundled with the program, by name; other specifiers are imported from disk. */
    private readonly builtins: Record<string, ModuleSource> = {},
  ) {}

  /** Learn the whole plan and import this runtime's modules (only those). */
  async load(plan: PlannedPlugin[]): Promise<void> {
    this.plan = plan;
    for (const [i, p] of plan.entries()) this.position.set(uriOf(p), i);
    const mine = plan.filter((p) => p.worker === this.worker);
    for (const p of mine) {
      let settle!: () => void;
      const done = new Promise<void>((r) => {
        settle = r;
      });
      this.unsettled.set(uriOf(p), { done, settle });
    }
    const modules = [...new Set(mine.map((p) => p.module))];
    for (const mod of await Promise.all(modules.map((spec) => importModule(this.builtins, spec)))) {
      for (const r of recordsOf(mod)) this.records.set(uriOf(r), r);
    }
    for (const p of mine) {
      if (!this.records.has(uriOf(p))) throw notFound(`plugin ${uriOf(p)} in module ${p.module}`);
    }
  }

  async init(uri: string, data: InitData): Promise<InitResult> {
    const rec = this.records.get(uri);
    if (!rec) throw notFound(`plugin ${uri}`);
    const exports: Record<string, string> = {};
    const capabilities: string[] = [];
    const services: ServiceInfo[] = [];
    const routes: Route[] = [];
    const links = this.links;
    const ctx: InitContext<unknown> = {
      type: rec.type,
      id: rec.id,
      uri,
      root: data.root,
      state: data.state,
      config: data.config,
      grpcAddress: data.grpcAddress,
      ttrpcAddress: data.ttrpcAddress,
      events: { publish: (ns, topic, ev) => links.publish(ns, topic, ev) },
      log: links.log(uri),
      exports,
      capabilities,
      get: (type, id) => this.get(type, id, uri),
      registerService: <S extends DescService>(
        svc: S,
        handlers: ServiceHandlers<S>,
        opts: ServiceOptions = {},
      ) => {
        const namespaced = opts.namespaced ?? true;
        for (const r of serviceRoutes(svc, handlers, namespaced)) {
          routes.push(r);
          services.push({
            path: r.path,
            kind: r.kind,
            namespaced,
            grpc: opts.grpc ?? true,
            ttrpc: opts.ttrpc ?? false,
          });
        }
      },
    };
    try {
      const instance = await rec.init(ctx);
      this.instances.set(uri, instance);
      for (const r of routes) this.routes.set(r.path, r);
      this.servicesOf.set(uri, services);
      return { status: "ok", exports, capabilities, services };
    } catch (e) {
      if (isSkip(e)) return { status: "skip", reason: (e as Error).message };
      throw e;
    } finally {
      this.unsettled.get(uri)?.settle();
      this.unsettled.delete(uri);
    }
  }

  /** A plugin by type (and id), wherever it runs. `from`: the plugin asking, during its init.
   *  The host inits plugins of different workers at the same time, so a plugin that comes
   *  earlier in the plan than the one asking may still be starting: the answer waits for it
   *  to finish, as if the plan ran one plugin at a time (as containerd's does). A later one
   *  is never waited for (that could wait forever): it is "not initialized". */
  async get<T>(type: string, id?: string, from?: string): Promise<T> {
    const p = this.plan.find((x) => x.type === type && (id === undefined || x.id === id));
    const name = id === undefined ? type : `${type}.${id}`;
    if (!p) throw notFound(`plugin ${name}`);
    const uri = uriOf(p);
    const wait = from !== undefined && (this.position.get(uri) ?? Infinity) < (this.position.get(from) ?? -1);
    if (p.worker === this.worker) {
      if (wait) await this.unsettled.get(uri)?.done;
      if (!this.instances.has(uri)) throw notFound(`plugin ${uri}: not initialized`);
      return this.instances.get(uri) as T;
    }
    let peer = this.peers.get(p.worker);
    if (!peer) {
      peer = this.links.connect(p.worker);
      this.peers.set(p.worker, peer);
    }
    const ready = await peer;
    // Ask first, so a plugin that failed or was skipped is an error here, not on first use.
    await ready.call(`${PLUGIN_CALL}${uri}#`, [wait]);
    return pluginProxy<T>(ready, uri);
  }

  route(path: string): Route | undefined {
    return this.routes.get(path);
  }

  /** Serve calls that reach this runtime over a port: API routes and proxied methods. */
  handle = (call: IncomingCall): Promise<unknown> | AsyncIterable<unknown> => {
    const { target } = call;
    if (target.startsWith("/")) {
      const route = this.routes.get(target);
      if (!route) return Promise.reject(unavailable(`${target}: not served by worker ${this.worker}`));
      const ctx: CallContext = {
        ...(call.ctx ?? { method: target, protocol: "internal", metadata: {} }),
        signal: call.signal,
      };
      const req = call.input ? (call.input as AsyncIterable<Uint8Array>) : (call.args[0] as Uint8Array);
      return route.invoke(req, ctx);
    }
    if (target.startsWith(PLUGIN_CALL)) {
      const [uri, method] = target.slice(PLUGIN_CALL.length).split("#") as [string, string];
      if (method === "") {
        // The existence probe of get(); args[0]: wait for an init still running.
        const pending = call.args[0] === true ? this.unsettled.get(uri) : undefined;
        const check = () => {
          if (!this.instances.has(uri)) throw notFound(`plugin ${uri}: not initialized`);
          return true;
        };
        return pending ? pending.done.then(check) : Promise.resolve().then(check);
      }
      if (!this.instances.has(uri)) return Promise.reject(notFound(`plugin ${uri}: not initialized`));
      const inst = this.instances.get(uri) as Record<string, unknown>;
      const fn = inst?.[method];
      if (typeof fn !== "function") return Promise.reject(notFound(`method ${method} of plugin ${uri}`));
      try {
        return (fn as (...a: unknown[]) => Promise<unknown> | AsyncIterable<unknown>).apply(inst, call.args);
      } catch (e) {
        return Promise.reject(e);
      }
    }
    return Promise.reject(new BunkerError(Kind.NotImplemented, `call ${target}`));
  };

  /** What SIGUSR1 prints. */
  dump() {
    return {
      worker: this.worker,
      plugins: [...this.instances.keys()],
      routes: this.routes.size,
      memory: process.memoryUsage(),
    };
  }

  services(uri: string): ServiceInfo[] {
    return this.servicesOf.get(uri) ?? [];
  }
}

/** A typed stand-in for a plugin in another thread: each method is a call over the port. */
export function pluginProxy<T>(peer: PortPeer, uri: string): T {
  return new Proxy({} as Record<string, unknown>, {
    get(_t, prop) {
      // Not a thenable: `await proxy` must give the proxy itself.
      if (prop === "then" || typeof prop !== "string") return undefined;
      return (...args: unknown[]) => peer.call(`${PLUGIN_CALL}${uri}#${prop}`, args);
    },
  }) as T;
}

export { toBunkerError };
