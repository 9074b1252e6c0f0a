/** bunkerd's life: prepare root and state, load the plugin graph, serve gRPC, ttrpc, metrics
 *  and debug, tell the supervisor it is ready, and stop cleanly on a signal. */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import {
  type CallContext,
  createLogger,
  type Logger,
  type LogSettings,
  notImplemented,
  type Route,
  requireNamespace,
  type Router,
  traceBoot,
} from "@bunkerd/plugin-api";
import { createTtrpcServer } from "@bunkerd/ttrpc";
import { builtinModules } from "./builtin-modules.ts";
import { Exchange } from "./events/exchange.ts";
import type { HostApi } from "./host/api.ts";
import { PluginHost } from "./host/host.ts";
import type { Prestarted } from "./host/prestart.ts";
import type { GcTotals } from "./plugins/gc/start.ts";
// Hand-written HTTP/2 on Bun.listen: ~1.4× containerd's calls/s, where node:http2 is ~1× (bench/RESULTS.md).
import { prepareUnixSocket } from "./server/grpc/listen.ts";
import { createGrpcServer } from "./server/h2/index.ts";
import { eventsPlugin, exchangePlugin } from "./services/events/plugin.ts";
import { healthPlugin } from "./services/health/plugin.ts";
import { introspectionPlugin } from "./services/introspection/plugin.ts";
import { versionPlugin } from "./services/version/plugin.ts";
import { sdNotify } from "./sys/notify.ts";
import { applyOomScore, cleanupTempMounts, ensureDir } from "./sys/process.ts";
import { VERSION } from "./version.ts";

/** Everything the daemon needs, already parsed and validated from config and flags. */
export interface DaemonSettings {
  root: string;
  state: string;
  grpc: {
    address: string;
    tcpAddress?: string;
    tls?: { cert: string; key: string; ca?: string };
    uid: number;
    gid: number;
    maxRecvMessageSize: number;
    maxSendMessageSize: number;
  };
  ttrpc: { address: string; uid: number; gid: number };
  debug: { address?: string; uid: number; gid: number };
  metrics: { address?: string; grpcHistogram: boolean };
  oomScore: number;
  disabledPlugins: string[];
  requiredPlugins: string[];
  pluginConfig: Record<string, Record<string, unknown>>;
  pluginDir?: string;
  log: LogSettings;
  /** How long a graceful stop waits for calls in flight. */
  shutdownGraceMs?: number;
  /** Plugin workers started while the config was read (main.ts); the host adopts them. */
  prestarted?: Map<string, Prestarted>;
}

/** Entry module of plugin workers. Resolved from a module beside host/ (as main.ts does too):
 *  in a compiled bunkerd every chunk sits at the bundle's root, where host/worker.ts is. */
const WORKER_ENTRY = new URL("./host/worker.ts", import.meta.url);

export interface Daemon {
  readonly host: PluginHost;
  readonly exchange: Exchange;
  readonly log: Logger;
  readonly grpcAddress: string;
  /** Graceful stop: refuse new calls, finish in-flight ones (bounded), stop workers, remove sockets. */
  stop(): Promise<void>;
}

/** When the after-boot work (JIT policy, garbage collection) runs, after READY. */
const AFTER_BOOT_MS = 200;

export async function startDaemon(s: DaemonSettings): Promise<Daemon> {
  const started = performance.now();
  traceBoot("host", "startDaemon");
  const log = createLogger(s.log);
  ensureDir(s.root);
  ensureDir(s.state);
  for (const m of cleanupTempMounts(s.root)) log.warn("unmounted leftover temp mount", m);
  const oomWarning = applyOomScore(s.oomScore);
  if (oomWarning) log.warn(oomWarning);

  // Refuse a socket that another live daemon serves before anything starts (plugins would
  // otherwise open the same stores); stale socket files from a crash are removed.
  await prepareUnixSocket(s.grpc.address);
  await prepareUnixSocket(s.ttrpc.address);

  traceBoot("host", "sockets prepared");
  const exchange = new Exchange();
  let serving = true;
  const servingListeners = new Set<(v: boolean) => void>();
  // The host exists before its plugins; the router-level records reach it through hostApi.
  let host!: PluginHost;
  const hostApi: HostApi = {
    exchange,
    plugins: () => host.plugins(),
    version: VERSION,
    root: s.root,
    serving: () => serving,
    onServingChange(fn) {
      servingListeners.add(fn);
      return () => servingListeners.delete(fn);
    },
  };
  host = new PluginHost({
    builtins: builtinModules,
    hostRecords: [
      exchangePlugin(),
      versionPlugin(hostApi),
      healthPlugin(hostApi),
      eventsPlugin(hostApi),
      introspectionPlugin(hostApi),
    ],
    external: externalPlugins(s.pluginDir),
    root: s.root,
    state: s.state,
    grpcAddress: s.grpc.address,
    ttrpcAddress: s.ttrpc.address,
    disabled: s.disabledPlugins,
    required: s.requiredPlugins,
    pluginConfig: s.pluginConfig,
    logSettings: s.log,
    log,
    publish: (ns, topic, ev) => exchange.publish(ns, topic, ev),
    workerEntry: WORKER_ENTRY,
    prestarted: s.prestarted,
  });
  try {
    await host.start();
  } catch (e) {
    await host.stop();
    throw e;
  }

  // Metrics cost a little on every call: loaded and counted only when an address is set.
  const metrics = s.metrics.address ? await import("./server/metrics/index.ts") : undefined;
  const registry = metrics ? new metrics.MetricsRegistry() : undefined;
  const grpc = createGrpcServer({
    router: withServices(host),
    maxRecvMessageSize: s.grpc.maxRecvMessageSize,
    maxSendMessageSize: s.grpc.maxSendMessageSize,
    onCall:
      metrics && registry ? metrics.grpcMetrics(registry, { histogram: s.metrics.grpcHistogram }) : undefined,
    log,
  });
  const ttrpc = createTtrpcServer({ dispatch: ttrpcDispatch(host.ttrpc) });
  const closers: (() => Promise<void>)[] = [];
  try {
    await grpc.listenUnix(s.grpc.address, { uid: s.grpc.uid, gid: s.grpc.gid, mode: 0o660 });
    log.info("serving...", { address: s.grpc.address });
    await ttrpc.listen(s.ttrpc.address, { mode: 0o660 });
    await chownIf(s.ttrpc.address, s.ttrpc.uid, s.ttrpc.gid);
    log.info("serving...", { address: s.ttrpc.address });
    if (s.grpc.tcpAddress) {
      const bound = await grpc.listenTcp(s.grpc.tcpAddress, tlsFiles(s.grpc.tls));
      log.info("serving...", { address: bound, tls: s.grpc.tls ? (s.grpc.tls.ca ? "mtls" : "tls") : "off" });
    }
    if (metrics && registry && s.metrics.address) {
      metrics.pluginMetrics(registry, () => host.plugins());
      metrics.gcMetrics(registry, async () => {
        const gc = await host
          .get<{ totals(): Promise<GcTotals> }>("io.containerd.gc.v1", "scheduler")
          .catch(() => undefined);
        return gc?.totals();
      });
      const m = await metrics.startMetricsServer(s.metrics.address, registry);
      closers.push(() => m.close());
      log.info("serving...", { address: m.address, server: "metrics" });
    }
    if (s.debug.address) {
      const d = await startDebugServer(s.debug.address, host);
      await chownIf(s.debug.address, s.debug.uid, s.debug.gid);
      closers.push(d);
      log.info("serving...", { address: s.debug.address, server: "debug" });
    }
  } catch (e) {
    await grpc.close(0);
    await ttrpc.close({ timeoutMs: 0 });
    for (const c of closers) await c();
    await host.stop();
    throw e;
  }

  traceBoot("host", "serving");
  sdNotify("READY=1");
  log.info(`bunkerd successfully booted in ${((performance.now() - started) / 1000).toFixed(6)}s`);
  // Once the first clients' calls are through, not in their way (a full collection holds each
  // thread for a few ms).
  const gcTimer = setTimeout(() => host.afterBoot().catch(() => {}), AFTER_BOOT_MS);

  let stopping: Promise<void> | undefined;
  const daemon: Daemon = {
    host,
    exchange,
    log,
    grpcAddress: s.grpc.address,
    stop() {
      stopping ??= (async () => {
        clearTimeout(gcTimer);
        serving = false;
        for (const fn of servingListeners) fn(false);
        sdNotify("STOPPING=1");
        log.info("stopping bunkerd");
        const grace = s.shutdownGraceMs ?? 10_000;
        await Promise.all([grpc.close(grace), ttrpc.close({ timeoutMs: grace })]);
        for (const c of closers) await c();
        await host.stop();
        log.info("bunkerd stopped");
      })();
      return stopping;
    },
  };
  return daemon;
}

/** grpc-go says "unknown method M for service S" when the service exists. */
function withServices(router: Router) {
  return {
    lookup: (path: string) => router.lookup(path),
    hasService(service: string) {
      return (router as PluginHost).hasService?.(service) ?? false;
    },
  };
}

/** ttrpc calls reach the same routes; the namespace comes from `containerd-namespace-ttrpc`. */
function ttrpcDispatch(router: Router) {
  return async (
    service: string,
    method: string,
    payload: Uint8Array,
    c: { metadata: Record<string, string[]>; deadline?: number; signal: AbortSignal },
  ) => {
    const path = `/${service}/${method}`;
    const route: Route | undefined = router.lookup(path);
    if (!route) throw notImplemented(`service ${service}`);
    if (route.kind !== "unary") throw notImplemented(`streaming method ${path} over ttrpc`);
    const ns = c.metadata["containerd-namespace-ttrpc"]?.[0] ?? c.metadata["containerd-namespace"]?.[0];
    const ctx: CallContext = {
      method: path,
      protocol: "ttrpc",
      namespace: route.namespaced ? requireNamespace(ns) : ns,
      lease: c.metadata["containerd-lease"]?.[0],
      deadline: c.deadline,
      metadata: c.metadata,
      signal: c.signal,
    };
    return (await route.invoke(payload, ctx)) as Uint8Array;
  };
}

function tlsFiles(tls: DaemonSettings["grpc"]["tls"]) {
  if (!tls) return {};
  return {
    cert: readFileSync(tls.cert),
    key: readFileSync(tls.key),
    ca: tls.ca ? readFileSync(tls.ca) : undefined,
  };
}

async function chownIf(path: string, uid: number, gid: number) {
  if (uid === 0 && gid === 0) return;
  const { chown } = await import("node:fs/promises");
  await chown(path, uid, gid);
}

/** plugin_dir: every .ts/.js module in it registers plugins, as Go plugins do for containerd. */
function externalPlugins(dir: string | undefined): string[] {
  if (!dir || !existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => /\.(ts|js|mjs)$/.test(f) && !f.endsWith(".d.ts"))
    .sort()
    .map((f) => resolve(dir, f));
}

/** The debug socket: plain HTTP on a unix socket, with the state SIGUSR1 logs. */
async function startDebugServer(address: string, host: PluginHost): Promise<() => Promise<void>> {
  const { rmSync } = await import("node:fs");
  ensureDir(dirname(address));
  rmSync(address, { force: true });
  const server = Bun.serve({
    unix: address,
    async fetch(req) {
      const url = new URL(req.url);
      if (url.pathname === "/debug/state") return Response.json(await host.dump());
      return new Response("not found\n", { status: 404 });
    },
  });
  return async () => {
    server.stop(true);
    rmSync(address, { force: true });
  };
}
