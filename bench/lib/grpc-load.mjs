#!/usr/bin/env node
/** gRPC load client for `Version/Version`, the same for every daemon. Runs on Node 20 with raw
 *  `node:http2` (Bun's http2 client is not what we want to measure): one HTTP/2 connection
 *  over the unix socket, `concurrency` calls kept in flight, each hand-framed (5-byte prefix +
 *  empty message) and checked for `grpc-status: 0`.
 *
 *    node bench/lib/grpc-load.mjs --socket PATH [--concurrency 32] [--duration 3] [--warmup 0.5]
 *
 *  Prints one JSON line: calls completed in the measured window (after the warm-up), calls/s,
 *  latency p50/p99/max in ms, errors, the total calls including warm-up, and this client's
 *  own CPU use in the window (to tell a client-bound run from a daemon-bound one). */
import http2 from "node:http2";
import net from "node:net";
import { parseArgs } from "node:util";

const { values } = parseArgs({
  options: {
    socket: { type: "string" },
    concurrency: { type: "string", default: "1" },
    duration: { type: "string", default: "3" },
    warmup: { type: "string", default: "0.5" },
    path: { type: "string", default: "/containerd.services.version.v1.Version/Version" },
  },
});
if (!values.socket) {
  console.error("usage: grpc-load.mjs --socket PATH [--concurrency N] [--duration S] [--warmup S]");
  process.exit(2);
}
const concurrency = Number(values.concurrency);
const durationMs = Number(values.duration) * 1000;
const warmupMs = Number(values.warmup) * 1000;

const headers = {
  [http2.constants.HTTP2_HEADER_METHOD]: "POST",
  [http2.constants.HTTP2_HEADER_PATH]: values.path,
  "content-type": "application/grpc",
  te: "trailers",
};
const body = Buffer.alloc(5); // uncompressed, length 0: an empty VersionRequest

const session = http2.connect("http://localhost", { createConnection: () => net.connect(values.socket) });
session.on("error", (e) => fail(`connection error: ${e.message}`));
await new Promise((resolve) => session.once("connect", resolve));

function fail(msg) {
  console.error(`grpc-load: ${msg}`);
  process.exit(1);
}

/** One call; resolves with an error string, or undefined on grpc-status 0 with a reply message. */
function call() {
  return new Promise((resolve) => {
    const req = session.request(headers);
    let status;
    let bytes = 0;
    req.on("response", (h) => {
      if (h[":status"] !== 200) status = `http ${h[":status"]}`;
      else if (h["grpc-status"] !== undefined) status = h["grpc-status"]; // trailers-only
    });
    req.on("data", (chunk) => {
      bytes += chunk.length;
    });
    req.on("trailers", (t) => {
      status ??= t["grpc-status"];
    });
    req.on("error", (e) => {
      status = e.message;
    });
    req.on("close", () => {
      if (status === "0" && bytes >= 5) resolve(undefined);
      else resolve(`grpc-status ${status ?? "missing"} (${bytes} bytes)`);
    });
    req.end(body);
  });
}

const first = await call();
if (first) fail(`first call failed: ${first}`);

const start = performance.now();
const measureFrom = start + warmupMs;
const measureTo = measureFrom + durationMs;
let latencies = new Float64Array(1 << 16);
let measured = 0;
let total = 0;
let errors = 0;
let lastError;
let cpuAtMeasure;

async function worker() {
  for (;;) {
    const t0 = performance.now();
    if (t0 >= measureTo) return;
    if (cpuAtMeasure === undefined && t0 >= measureFrom) cpuAtMeasure = process.cpuUsage();
    const err = await call();
    const t1 = performance.now();
    total++;
    if (err) {
      errors++;
      lastError = err;
    }
    // A call counts if it completed inside the window; its latency is recorded with it.
    if (t1 >= measureFrom && t1 < measureTo && !err) {
      if (measured === latencies.length) {
        const grown = new Float64Array(latencies.length * 2);
        grown.set(latencies);
        latencies = grown;
      }
      latencies[measured++] = t1 - t0;
    }
  }
}

await Promise.all(Array.from({ length: concurrency }, worker));
const cpu = process.cpuUsage(cpuAtMeasure);
session.close();

const sorted = latencies.subarray(0, measured).sort();
const pct = (p) =>
  measured ? sorted[Math.min(measured, Math.max(1, Math.ceil((p / 100) * measured))) - 1] : null;
console.log(
  JSON.stringify({
    concurrency,
    seconds: durationMs / 1000,
    calls: measured,
    callsPerSec: measured / (durationMs / 1000),
    p50Ms: pct(50),
    p99Ms: pct(99),
    maxMs: measured ? sorted[measured - 1] : null,
    errors,
    lastError,
    totalCalls: total + 1,
    clientCpuPct: ((cpu.user + cpu.system) / 1000 / durationMs) * 100,
  }),
);
