#!/usr/bin/env node
/** Sequential unary-call latency, per method, on one HTTP/2 connection (Node's raw http2, as
 *  grpc-load.mjs): what a ctr-like client pays per small call. Calls go one at a time, with
 *  an optional idle gap between them (`--gap-ms`), because ctr's calls are spread out and a
 *  daemon whose threads sleep between calls pays their wake-ups on every call.
 *
 *    node bench/lib/rpc-latency-client.mjs --socket PATH --calls JSON [--count 200] [--gap-ms 0]
 *
 *  `--calls` is a JSON array of { name, path, hex, namespace?, allowError? }. Prints one JSON
 *  line: for each name, p50 / mean / p90 / min in ms over `count` calls (after 20 warm-up calls). */
import http2 from "node:http2";
import net from "node:net";
import { parseArgs } from "node:util";

const { values } = parseArgs({
  options: {
    socket: { type: "string" },
    calls: { type: "string" },
    count: { type: "string", default: "200" },
    "gap-ms": { type: "string", default: "0" },
    warmup: { type: "string", default: "20" },
  },
});
const specs = JSON.parse(values.calls);
const count = Number(values.count);
const gapMs = Number(values["gap-ms"]);
const warmup = Number(values.warmup);

const session = http2.connect("http://localhost", { createConnection: () => net.connect(values.socket) });
session.on("error", (e) => {
  console.error(`rpc-latency: connection error: ${e.message}`);
  process.exit(1);
});
await new Promise((resolve) => session.once("connect", resolve));

function call(spec) {
  const message = Buffer.from(spec.hex ?? "", "hex");
  const body = Buffer.alloc(5 + message.length);
  body.writeUInt32BE(message.length, 1);
  message.copy(body, 5);
  const headers = {
    ":method": "POST",
    ":path": spec.path,
    "content-type": "application/grpc",
    te: "trailers",
  };
  if (spec.namespace) headers["containerd-namespace"] = spec.namespace;
  return new Promise((resolve) => {
    const req = session.request(headers);
    let status;
    let msg;
    req.on("response", (h) => {
      if (h["grpc-status"] !== undefined) {
        status = h["grpc-status"];
        msg = h["grpc-message"];
      }
    });
    req.on("data", () => {});
    req.on("trailers", (t) => {
      status ??= t["grpc-status"];
      msg ??= t["grpc-message"];
    });
    req.on("error", (e) => {
      status = e.message;
    });
    req.on("close", () => resolve(status === "0" ? undefined : `status ${status}: ${msg}`));
    req.end(body);
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const out = {};
for (const spec of specs) {
  const first = await call(spec);
  if (first && !spec.allowError) {
    console.error(`rpc-latency: ${spec.name} failed: ${first}`);
    process.exit(1);
  }
  const times = [];
  for (let i = 0; i < warmup + count; i++) {
    if (gapMs > 0) await sleep(gapMs);
    const t0 = performance.now();
    await call(spec);
    const t1 = performance.now();
    if (i >= warmup) times.push(t1 - t0);
  }
  if (times.length === 0) {
    out[spec.name] = { status: first ?? "ok" };
    continue;
  }
  times.sort((a, b) => a - b);
  const at = (p) => times[Math.min(times.length - 1, Math.floor(p * times.length))];
  out[spec.name] = {
    p50: +at(0.5).toFixed(3),
    mean: +(times.reduce((a, b) => a + b, 0) / times.length).toFixed(3),
    p90: +at(0.9).toFixed(3),
    min: +times[0].toFixed(3),
    status: first ?? "ok",
  };
}
session.close();
console.log(JSON.stringify(out));
