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

export class PluginRuntime {
  private readonly records = new Map<string, PluginRecord<unknown, unknown>>();
  private readonly instances = new Map<string, unknown>();
  private readonly routes = new Map<string, Route>();
  private readonly servicesOf = new Map<string, ServiceInfo[]>();
  private plan: PlannedPlugin[] = [];
  private readonly peers = new Map<string, Promise<PortPeer>>();

  constructor(
    readonly worker: string,
    private readonly links: RuntimeLinks,
    /** Modules bundled with the program, by name; other specifiers are imported from disk. */
    private readonly builtins: Record<string, PluginModule> = {},
  ) {}

  /** Learn the whole plan and import this runtime's modules. */
  async load(plan: PlannedPlugin[]): Promise<void> {
    this.plan = plan;
    const mine = plan.filter((p) => p.worker === this.worker);
    const modules = [...new Set(mine.map((p) => p.module))];
    for (const spec of modules) {
      const mod = this.builtins[spec] ?? ((await import(spec)) as PluginModule);
      const recs = ([] as unknown[]).concat(mod.default ?? [], mod.plugins ?? []) as PluginRecord<
        unknown,
        unknown
      >[];
      for (const r of recs) this.records.set(uriOf(r), r);
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
      get: (type, id) => this.get(type, id),
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
    }
  }

  /** A plugin by type (and id), wherever it runs. */
  async get<T>(type: string, id?: string): Promise<T> {
    const p = this.plan.find((x) => x.type === type && (id === undefined || x.id === id));
    const name = id === undefined ? type : `${type}.${id}`;
    if (!p) throw notFound(`plugin ${name}`);
    const uri = uriOf(p);
    if (p.worker === this.worker) {
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
    await ready.call(`${PLUGIN_CALL}${uri}#`, []);
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
      if (!this.instances.has(uri)) return Promise.reject(notFound(`plugin ${uri}: not initialized`));
      if (method === "") return Promise.resolve(true);
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
