/** gRPC server metrics with go-grpc-prometheus's names and labels, as containerd exports them:
 *  grpc_server_handled_total always, grpc_server_handling_seconds when the histogram is on
 *  (containerd's `[metrics] grpc_histogram`, off by default). */
import { Code, type MethodKind } from "@bunkerd/plugin-api";
import type { CounterChild, HistogramChild, MetricsRegistry } from "./registry.ts";

// grpc-go's codes.Code.String(): the same names as plugin-api's Code keys.
const codeNames = new Map<number, string>(Object.entries(Code).map(([name, code]) => [code, name]));

// go-grpc-prometheus grpc_type values.
const grpcType: Record<MethodKind, string> = {
  unary: "unary",
  client_streaming: "client_stream",
  server_streaming: "server_stream",
  bidi_streaming: "bidi_stream",
};

export type GrpcCallHook = (method: string, code: number, seconds: number, kind: MethodKind) => void;

export function grpcMetrics(registry: MetricsRegistry, options: { histogram?: boolean } = {}): GrpcCallHook {
  const labels = ["grpc_type", "grpc_service", "grpc_method"];
  const handled = registry.counter(
    "grpc_server_handled_total",
    "Total number of RPCs completed on the server, regardless of success or failure.",
    [...labels, "grpc_code"],
  );
  const handling = options.histogram
    ? registry.histogram(
        "grpc_server_handling_seconds",
        "Histogram of response latency (seconds) of gRPC that had been application-level handled by the server.",
        labels,
      )
    : undefined;

  // Per method: its label values once, and its series by code, so a call costs two lookups.
  type Series = { values: string[]; byCode: (CounterChild | undefined)[]; latency?: HistogramChild };
  const methods = new Map<string, Series>();

  return (path, code, seconds, kind) => {
    let s = methods.get(path);
    if (!s) {
      const slash = path.lastIndexOf("/");
      const values = [grpcType[kind] ?? "unary", path.slice(1, slash), path.slice(slash + 1)];
      s = { values, byCode: [], latency: handling?.labels(...values) };
      methods.set(path, s);
    }
    let c = s.byCode[code];
    if (!c) {
      c = handled.labels(...s.values, codeNames.get(code) ?? String(code));
      s.byCode[code] = c;
    }
    c.inc();
    s.latency?.observe(seconds);
  };
}
