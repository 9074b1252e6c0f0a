/** The metrics endpoint: GET /v1/metrics over plain HTTP/1, as containerd's `[metrics] address`. */
import { parseHostPort } from "../grpc/listen.ts";
import { contentType, type MetricsRegistry } from "./registry.ts";

export interface MetricsServer {
  /** The bound "host:port". */
  readonly address: string;
  close(): Promise<void>;
}

export async function startMetricsServer(address: string, registry: MetricsRegistry): Promise<MetricsServer> {
  const { host, port } = parseHostPort(address);
  const server = Bun.serve({
    hostname: host || "0.0.0.0",
    port,
    development: false,
    async fetch(req) {
      const url = new URL(req.url);
      if (url.pathname !== "/v1/metrics") return new Response("404 page not found\n", { status: 404 });
      if (req.method !== "GET" && req.method !== "HEAD") {
        return new Response("method not allowed\n", { status: 405, headers: { allow: "GET, HEAD" } });
      }
      return new Response(await registry.expose(), { headers: { "content-type": contentType } });
    },
    error(e) {
      return new Response(`metrics: ${e.message}\n`, { status: 500 });
    },
  });
  const bound = server.hostname?.includes(":") ? `[${server.hostname}]` : server.hostname;
  return {
    address: `${bound}:${server.port}`,
    async close() {
      await server.stop(true);
    },
  };
}
