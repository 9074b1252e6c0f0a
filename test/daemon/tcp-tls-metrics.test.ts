/** The optional listeners: gRPC on TCP with TLS and mTLS, and Prometheus metrics. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createServer } from "node:net";
import { Version } from "@bunkerd/proto/containerd/services/version/v1/version_pb.ts";
import { Code, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { makeCerts, type TestCerts } from "../harness/certs.ts";
import { type DaemonHandle, hasBinary, startDaemon } from "../harness/daemon.ts";

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });

describe.skipIf(!hasBinary("openssl"))("TCP with TLS and mTLS", () => {
  let certs: TestCerts;
  let d: DaemonHandle;
  let port: number;
  beforeAll(async () => {
    certs = makeCerts();
    port = await freePort();
    d = await startDaemon("bunkerd", {
      grpcConfig: [
        `  tcp_address = "127.0.0.1:${port}"`,
        `  tcp_tls_cert = "${certs.serverCert}"`,
        `  tcp_tls_key = "${certs.serverKey}"`,
        `  tcp_tls_ca = "${certs.ca}"`,
      ].join("\n"),
    });
  });
  afterAll(async () => {
    await d?.stop();
    certs?.cleanup();
  });

  const client = (cert?: "client" | "rogue") =>
    createClient(
      Version,
      createGrpcTransport({
        baseUrl: `https://127.0.0.1:${port}`,
        nodeOptions: {
          ca: certs.read("ca"),
          ...(cert === "client" ? { cert: certs.read("clientCert"), key: certs.read("clientKey") } : {}),
          ...(cert === "rogue" ? { cert: certs.read("rogueCert"), key: certs.read("rogueKey") } : {}),
        },
      }),
    );

  test("a client certificate from the configured CA is served", async () => {
    const v = await client("client").version({});
    expect(v.version).toMatch(/^v\d/);
  });

  test("no client certificate, or one from another CA, is refused before any handler", async () => {
    for (const c of [undefined, "rogue"] as const) {
      const err = await client(c)
        .version({})
        .catch((e) => e);
      // The TLS handshake fails; how the client library words that varies, the refusal does not.
      // (TLS 1.3: a rejected client certificate surfaces after the handshake, as a cancelled stream.)
      expect([Code.Unavailable, Code.Internal, Code.Canceled]).toContain(err.code);
      expect(String(err.message)).toMatch(/CERTIFICATE_REQUIRED|certificate|stream closed|alert|reset/i);
    }
  });
});

describe("metrics", () => {
  test("/v1/metrics serves Prometheus text with gRPC counts and plugin states", async () => {
    const port = await freePort();
    const d = await startDaemon("bunkerd", {
      extraConfig: `[metrics]\n  address = "127.0.0.1:${port}"\n  grpc_histogram = true\n`,
    });
    try {
      if (hasBinary("ctr")) await d.ctr(["namespaces", "ls"]);
      const res = await fetch(`http://127.0.0.1:${port}/v1/metrics`);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toContain("text/plain");
      const text = await res.text();
      expect(text).toContain("# TYPE grpc_server_handled_total counter");
      expect(text).toMatch(
        /grpc_server_handled_total\{[^}]*grpc_method="Version"[^}]*grpc_code="OK"[^}]*\} \d+/,
      );
      expect(text).toContain("grpc_server_handling_seconds_bucket");
      expect(text).toMatch(/process_resident_memory_bytes \d+/);
      expect(text).toMatch(/bunkerd_plugin_info\{[^}]*id="sqlite"[^}]*\} 1/);
      // The collector runs at start-up (startup_delay 100 ms) and reports what it did.
      let gc = text;
      for (let i = 0; i < 100 && !/bunkerd_gc_collections_total [1-9]/.test(gc); i++) {
        await Bun.sleep(50);
        gc = await (await fetch(`http://127.0.0.1:${port}/v1/metrics`)).text();
      }
      expect(gc).toMatch(/bunkerd_gc_collections_total [1-9]/);
      expect(text).toContain('bunkerd_gc_removed_total{type="content"}');
      expect((await fetch(`http://127.0.0.1:${port}/nope`)).status).toBe(404);
    } finally {
      await d.stop();
    }
  });
});
