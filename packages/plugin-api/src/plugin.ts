/** A plugin describes itself with a record: containerd's type and id, what it requires,
 *  its config defaults, the worker it runs in, and an `init(ctx)` that builds it.
 *  The record is cheap to import (the host reads every record on the main thread);
 *  `init` imports the heavy implementation lazily, inside the plugin's own worker. */
import type { DescService } from "@bufbuild/protobuf";
import type { ServiceHandlers } from "./rpc/handlers.ts";

/** containerd's plugin types, so `ctr plugins ls` reads the same and config sections apply. */
export const PluginType = {
  Internal: "io.containerd.internal.v1",
  Content: "io.containerd.content.v1",
  Metadata: "io.containerd.metadata.v1",
  Snapshotter: "io.containerd.snapshotter.v1",
  Differ: "io.containerd.differ.v1",
  GC: "io.containerd.gc.v1",
  Lease: "io.containerd.lease.v1",
  Event: "io.containerd.event.v1",
  Monitor: "io.containerd.monitor.v1",
  RuntimeV2: "io.containerd.runtime.v2",
  Service: "io.containerd.service.v1",
  GRPC: "io.containerd.grpc.v1",
  TTRPC: "io.containerd.ttrpc.v1",
  Transfer: "io.containerd.transfer.v1",
  CRI: "io.containerd.cri.v1",
} as const;

/** Where a plugin runs: the main thread ("host") or a named worker. Plugins naming the same
 *  worker share it; by default a plugin runs in the worker of its own type. */
export const HOST = "host";

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export interface Logger {
  trace(...a: unknown[]): void;
  debug(...a: unknown[]): void;
  info(...a: unknown[]): void;
  warn(...a: unknown[]): void;
  error(...a: unknown[]): void;
}

/** An event as it travels to the exchange: the bare containerd type name and its bytes. */
export interface EventPayload {
  typeUrl: string;
  value: Uint8Array;
}

export interface Publisher {
  publish(namespace: string, topic: string, event: EventPayload): Promise<void>;
}

export interface ServiceOptions {
  /** containerd's API answers FailedPrecondition "namespace is required" without one. Default true. */
  namespaced?: boolean;
  /** Serve on the ttrpc socket too (containerd does for a few services). */
  ttrpc?: boolean;
  /** Serve on gRPC. Default true. */
  grpc?: boolean;
}

export interface InitContext<C = unknown> {
  readonly type: string;
  readonly id: string;
  /** "<type>.<id>" */
  readonly uri: string;
  /** <root>/<type>.<id>, created on demand by the plugin. */
  readonly root: string;
  /** <state>/<type>.<id> */
  readonly state: string;
  readonly config: C;
  readonly grpcAddress: string;
  readonly ttrpcAddress: string;
  readonly events: Publisher;
  readonly log: Logger;
  /** Exports shown by `ctr plugins ls -d`. */
  readonly exports: Record<string, string>;
  /** Capabilities shown by introspection. */
  readonly capabilities: string[];
  /** Another plugin, wherever it runs: the instance itself in this worker, a typed proxy
   *  otherwise. Methods of a proxy return promises; streams come back as async iterables. */
  get<T = unknown>(type: string, id?: string): Promise<T>;
  /** Serve an API service from this plugin. */
  registerService<S extends DescService>(
    service: S,
    handlers: ServiceHandlers<S>,
    opts?: ServiceOptions,
  ): void;
}

export interface PluginRecord<C = unknown, T = unknown> {
  type: string;
  id: string;
  /** Types (or "type.id") this plugin needs initialised first; "*" = every other plugin. */
  requires?: string[];
  /** Config defaults; the `[plugins."<type>.<id>"]` section is merged over them. */
  config?: C;
  /** Turns the merged raw section into the typed config; throw invalidArgument naming the key. */
  parseConfig?(raw: Record<string, unknown>): C;
  /** The worker this plugin runs in (default: its type); HOST for the main thread. */
  worker?: string;
  platforms?: Platform[];
  init(ctx: InitContext<C>): Promise<T> | T;
}

export function definePlugin<C = unknown, T = unknown>(r: PluginRecord<C, T>): PluginRecord<C, T> {
  return r;
}

export const uriOf = (r: { type: string; id: string }) => `${r.type}.${r.id}`;
export const workerOf = (r: PluginRecord<unknown, unknown>) => r.worker ?? r.type;

/** Thrown from init when the plugin cannot run on this host: listed as `skip`, not `error`. */
export class SkipPlugin extends Error {
  override readonly name = "SkipPlugin";
}
export const skipPlugin = (why: string): SkipPlugin => new SkipPlugin(why);
export const isSkip = (e: unknown): boolean =>
  e instanceof SkipPlugin || (typeof e === "object" && e !== null && (e as { skip?: boolean }).skip === true);
