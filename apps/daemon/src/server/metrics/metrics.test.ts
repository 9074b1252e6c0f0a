/** gRPC, process and plugin metrics, and the /v1/metrics endpoint. */
import { expect, test } from "bun:test";
import { Code } from "@bunkerd/plugin-api";
import { grpcMetrics, MetricsRegistry, pluginMetrics, processMetrics, startMetricsServer } from "./index.ts";

test("grpc metrics: go-grpc-prometheus names, labels and code names", async () => {
  const r = new MetricsRegistry({ process: false });
  const onCall = grpcMetrics(r, { histogram: true });
  onCall("/containerd.services.version.v1.Version/Version", Code.OK, 0.002, "unary");
  onCall("/containerd.services.version.v1.Version/Version", Code.OK, 0.02, "unary");
  onCall("/containerd.services.events.v1.Events/Subscribe", Code.Canceled, 3, "server_streaming");
  onCall("/containerd.services.content.v1.Content/Write", Code.ResourceExhausted, 0.1, "bidi_streaming");
  const text = await r.expose();
  expect(text).toContain("# TYPE grpc_server_handled_total counter\n");
  expect(text).toContain(
    'grpc_server_handled_total{grpc_type="unary",grpc_service="containerd.services.version.v1.Version",grpc_method="Version",grpc_code="OK"} 2\n',
  );
  expect(text).toContain(
    'grpc_server_handled_total{grpc_type="server_stream",grpc_service="containerd.services.events.v1.Events",grpc_method="Subscribe",grpc_code="Canceled"} 1\n',
  );
  expect(text).toContain('grpc_type="bidi_stream"');
  expect(text).toContain('grpc_code="ResourceExhausted"');
  expect(text).toContain("# TYPE grpc_server_handling_seconds histogram\n");
  expect(text).toContain(
    'grpc_server_handling_seconds_bucket{grpc_type="unary",grpc_service="containerd.services.version.v1.Version",grpc_method="Version",le="0.005"} 1\n',
  );
  expect(text).toContain(
    'grpc_server_handling_seconds_count{grpc_type="unary",grpc_service="containerd.services.version.v1.Version",grpc_method="Version"} 2\n',
  );
  // Without the histogram option (containerd's default), only the counter.
  const plain = new MetricsRegistry({ process: false });
  grpcMetrics(plain)("/a.B/C", Code.OK, 1, "unary");
  expect(await plain.expose()).not.toContain("grpc_server_handling_seconds");
});

test("process metrics: memory, CPU, start time and fds from this process", async () => {
  const r = new MetricsRegistry({ process: false });
  processMetrics(r);
  const text = await r.expose();
  const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, "m").exec(text)?.[1]);
  expect(value("process_resident_memory_bytes")).toBeGreaterThan(1 << 20);
  expect(value("process_cpu_seconds_total")).toBeGreaterThan(0);
  const start = value("process_start_time_seconds");
  expect(start).toBeLessThanOrEqual(Date.now() / 1000);
  expect(start).toBeGreaterThan(Date.now() / 1000 - 3600);
  expect(value("process_open_fds")).toBeGreaterThan(2);
  expect(value("process_max_fds")).toBeGreaterThan(value("process_open_fds"));
  expect(text).toContain("# TYPE process_cpu_seconds_total counter\n");
  // The default registry has them too, as client_golang's does.
  expect(await new MetricsRegistry().expose()).toContain("process_resident_memory_bytes ");
});

test("plugin metrics: one series per plugin, rebuilt at each scrape", async () => {
  const r = new MetricsRegistry({ process: false });
  let plugins = [{ type: "io.containerd.content.v1", id: "content", state: "ok" }];
  pluginMetrics(r, () => plugins);
  expect(await r.expose()).toContain(
    'bunkerd_plugin_info{type="io.containerd.content.v1",id="content",state="ok"} 1\n',
  );
  plugins = [{ type: "io.containerd.content.v1", id: "content", state: "error" }];
  const text = await r.expose();
  expect(text).toContain('state="error"} 1\n');
  expect(text).not.toContain('state="ok"');
});

test("GET /v1/metrics serves the exposition; other paths are 404", async () => {
  const r = new MetricsRegistry({ process: false });
  r.counter("hits_total", "Hits.").inc(3);
  const server = await startMetricsServer("127.0.0.1:0", r);
  try {
    expect(server.address).toMatch(/^127\.0\.0\.1:\d+$/);
    const res = await fetch(`http://${server.address}/v1/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
    expect(await res.text()).toBe("# HELP hits_total Hits.\n# TYPE hits_total counter\nhits_total 3\n");
    expect((await fetch(`http://${server.address}/metrics`)).status).toBe(404);
    expect((await fetch(`http://${server.address}/v1/metrics`, { method: "POST" })).status).toBe(405);
  } finally {
    await server.close();
  }
});
