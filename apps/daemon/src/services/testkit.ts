/** Test helpers shared by the service folders: a service's plugins booted the way the host boots
 *  them, minus the socket. The records' init gets an InitContext over a plain plugin table, the
 *  routes they register are kept, and calls go through a route as protobuf in and out, the way the
 *  router invokes it. */
import { create, type DescService, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  type CallContext,
  type EventPayload,
  type InitContext,
  type Logger,
  notFound,
  PluginType,
  type Route,
  serviceRoutes,
} from "@bunkerd/plugin-api";
import { type MetadataDb, openMetadata } from "../plugins/metadata/db.ts";

const quiet: Logger = { trace() {}, debug() {}, info() {}, warn() {}, error() {} };

/** A GC scheduler that only writes down which of its calls were made, in order. */
function recordingScheduler(calls: string[]) {
  return {
    mutated: () => void calls.push("mutated"),
    deleted: () => void calls.push("deleted"),
    collect: async () => void calls.push("collect"),
  };
}

/** The plugins a metadata-worker service needs: the database and, when given, a GC scheduler. */
function metadataPlugins(db: MetadataDb, scheduler?: object): Record<string, unknown> {
  const plugins: Record<string, unknown> = { [`${PluginType.Metadata}.sqlite`]: db };
  if (scheduler) plugins[`${PluginType.GC}.scheduler`] = scheduler;
  return plugins;
}

/** One service's routes over a plugin table ("type.id" → instance), with the events published. */
export class ServiceKit {
  readonly routes: Route[] = [];
  readonly published: [namespace: string, topic: string, event: EventPayload][] = [];

  constructor(
    readonly service: DescService,
    readonly plugins: Record<string, unknown> = {},
  ) {}

  /** A minimal InitContext: `get` reads the table, `registerService` keeps the routes. */
  context(): InitContext {
    return {
      log: quiet,
      events: {
        publish: async (ns: string, topic: string, ev: EventPayload) =>
          void this.published.push([ns, topic, ev]),
      },
      get: async (type: string, id?: string) => {
        const key = `${type}.${id}`;
        if (!(key in this.plugins)) throw notFound(`plugin ${key}`);
        return this.plugins[key];
      },
      registerService: <S extends DescService>(
        svc: S,
        handlers: never,
        opts: { namespaced?: boolean } = {},
      ) => {
        this.routes.push(...serviceRoutes(svc, handlers, opts.namespaced ?? true));
      },
    } as unknown as InitContext;
  }

  /** Inits a record and, when it is given a "type.id", puts what it returns in the table. */
  async init(record: Record_, as?: string): Promise<unknown> {
    const instance = await record.init(this.context());
    if (as) this.plugins[as] = instance;
    return instance;
  }

  route(method: string): Route {
    const path = `/${this.service.typeName}/${method}`;
    const route = this.routes.find((r) => r.path === path);
    if (!route) throw new Error(`no route ${path}`);
    return route;
  }

  /** A unary call through its route; the decoded reply. */
  // biome-ignore lint/suspicious/noExplicitAny: replies of every message shape
  async call(method: string, req: object, namespace = "default", lease?: string): Promise<any> {
    const [m, route] = this.#method(method);
    const out = await (route.invoke(
      toBinary(m.input, create(m.input, req as never)),
      callContext(route.path, namespace, lease),
    ) as Promise<Uint8Array>);
    return fromBinary(m.output, out);
  }

  /** A server-streaming call through its route; every decoded message, in order. */
  // biome-ignore lint/suspicious/noExplicitAny: replies of every message shape
  async stream(method: string, req: object, namespace = "default", lease?: string): Promise<any[]> {
    const [m, route] = this.#method(method);
    const out = route.invoke(
      toBinary(m.input, create(m.input, req as never)),
      callContext(route.path, namespace, lease),
    ) as AsyncIterable<Uint8Array>;
    const msgs = [];
    for await (const b of out) msgs.push(fromBinary(m.output, b));
    return msgs;
  }

  #method(name: string) {
    const m = this.service.methods.find((x) => x.name === name);
    if (!m) throw new Error(`${this.service.typeName} has no method ${name}`);
    return [m, this.route(name)] as const;
  }
}

/** What the router hands a handler for one call. */
export function callContext(method: string, namespace: string, lease?: string): CallContext {
  return { method, protocol: "grpc", namespace, lease, metadata: {}, signal: new AbortController().signal };
}

type Record_ = { init(ctx: InitContext): unknown };

/** A metadata-worker service booted as the host boots it: `local` (kept in the table as
 *  io.containerd.service.v1.`<id>`) then its gRPC adapter, over a fresh in-memory database and,
 *  unless `gc` is false, a GC scheduler whose calls land in `gc`. Close `db` after. */
export async function bootMetadataService(
  service: DescService,
  local: Record_,
  grpc: Record_,
  id: string,
  o: { db?: MetadataDb; gc?: boolean } = {},
): Promise<{ db: MetadataDb; kit: ServiceKit; gc: string[] }> {
  const db = o.db ?? openMetadata(":memory:");
  const gc: string[] = [];
  const kit = new ServiceKit(
    service,
    metadataPlugins(db, (o.gc ?? true) ? recordingScheduler(gc) : undefined),
  );
  await kit.init(local, `${PluginType.Service}.${id}`);
  await kit.init(grpc);
  return { db, kit, gc };
}
