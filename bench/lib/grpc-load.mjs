#!/usr/bin/env node
/** gRPC load client for one unary method (default `Version/Version`), the same for every daemon.
 *  Runs on Node 20 with raw `node:http2` (Bun's http2 client is not what we want to measure):
 *  one HTTP/2 connection over the unix socket, `concurrency` calls kept in flight, each
 *  hand-framed (5-byte prefix + the request message, empty by default) and checked for
 *  `grpc-status: 0` and a reply message.
 *
 *    node bench/lib/grpc-load.mjs --socket PATH [--concurrency 32] [--duration 3] [--warmup 0.5]
 *        [--path /pkg.Service/Method] [--message-hex HEX | --message-file FILE] [--namespace NS]
 *
 *  `--message-hex`/`--message-file` give the serialized request message (without the 5-byte
 *  prefix; the client adds it); `--namespace` sends `containerd-namespace: NS` on every call.
 *
 *  Prints one JSON line: calls completed in the measured window (after the warm-up), calls/s,
 *  latency p50/p99/max in ms, errors, the total calls including warm-up, the size of the first
 *  reply (bytes on the wire, gRPC prefixes included), and this client's own CPU use in the
 *  window (to tell a client-bound run from a daemon-bound one). */
import { readFileSync } from "node:fs";
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
    "message-hex": { type: "string" },
    "message-file": { type: "string" },
    namespace: { type: "string" },
  },
});
if (!values.socket) {
  console.error(
    "usage: grpc-load.mjs --socket PATH [--concurrency N] [--duration S] [--warmup S] [--path P] [--message-hex HEX | --message-file F] [--namespace NS]",
  );
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
if (values.namespace) headers["containerd-namespace"] = values.namespace;
const message = values["message-file"]
  ? readFileSync(values["message-file"])
  : Buffer.from(values["message-hex"] ?? "", "hex"); // empty: e.g. a VersionRequest
const body = Buffer.alloc(5 + message.length); // byte 0: uncompressed; 1–4: length
body.writeUInt32BE(message.length, 1);
message.copy(body, 5);

const session = http2.connect("http://localhost", { createConnection: () => net.connect(values.socket) });
session.on("error", (e) => fail(`connection error: ${e.message}`));
await new Promise((resolve) => session.once("connect", resolve));

function fail(msg) {
  console.error(`grpc-load: ${msg}`);
  process.exit(1);
}

let replyBytes = 0;

/** One call; resolves with an error string, or undefined on grpc-status 0 with a reply message. */
function call() {
  return new Promise((resolve) => {
    const req = session.request(headers);
    let status;
    let grpcMessage;
    let bytes = 0;
    req.on("response", (h) => {
      if (h[":status"] !== 200) status = `http ${h[":status"]}`;
      else if (h["grpc-status"] !== undefined) {
        status = h["grpc-status"]; // trailers-only
        grpcMessage = h["grpc-message"];
      }
    });
    req.on("data", (chunk) => {
      bytes += chunk.length;
    });
    req.on("trailers", (t) => {
      status ??= t["grpc-status"];
      grpcMessage ??= t["grpc-message"];
    });
    req.on("error", (e) => {
      status = e.message;
    });
    req.on("close", () => {
      replyBytes = bytes;
      if (status === "0" && bytes >= 5) resolve(undefined);
      else {
        const why = grpcMessage ? `: ${decodeURIComponent(grpcMessage)}` : "";
        resolve(`grpc-status ${status ?? "missing"}${why} (${bytes} bytes)`);
      }
    });
    req.end(body);
  });
}

const first = await call();
if (first) fail(`first call failed: ${first}`);
const firstReplyBytes = replyBytes;

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
    replyBytes: firstReplyBytes,
    clientCpuPct: ((cpu.user + cpu.system) / 1000 / durationMs) * 100,
  }),
);
