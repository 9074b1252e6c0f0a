/** Prometheus metrics: a small registry, the process and gRPC metrics containerd exports, and
 *  the /v1/metrics HTTP endpoint. */
export { type GrpcCallHook, grpcMetrics } from "./grpc.ts";
export { type MetricsServer, startMetricsServer } from "./http.ts";
export { type PluginState, pluginMetrics } from "./plugins.ts";
export { processMetrics } from "./process.ts";
export {
  Counter,
  contentType,
  defaultBuckets,
  Gauge,
  Histogram,
  MetricsRegistry,
} from "./registry.ts";
export { gcMetrics } from "./gc.ts";
