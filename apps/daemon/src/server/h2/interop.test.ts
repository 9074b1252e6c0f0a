/** Other HTTP/2 clients against our server: Node 20's own node:http2 (nghttp2 inside) with a
 *  small window for a 16 MiB reply and a 16 MiB request, and nghttp2's h2load with many
 *  streams in flight. Each is skipped when its binary is missing. */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { fakeRouter, type Running, serveUnix } from "../grpc/test-support.ts";
import { createGrpcServer } from "./server.ts";

const hasNode = Bun.which("node") !== null;
const hasH2load = Bun.which("h2load") !== null;
let running: Running;

const u32 = (n: number) => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n);
  return b;
};

beforeAll(async () => {
  running = await serveUnix(
    fakeRouter({
      "/t.S/Echo": { kind: "unary", handler: async (req) => req as Uint8Array },
      "/t.S/Big": {
        kind: "unary",
        handler: async (req) => {
          const n = new DataView((req as Uint8Array).buffer, (req as Uint8Array).byteOffset).getUint32(0);
          return new Uint8Array(n).fill(0x5a);
        },
      },
      "/t.S/Size": { kind: "unary", handler: async (req) => u32((req as Uint8Array).length) },
    }),
    {},
    createGrpcServer,
  );
});

afterAll(() => running[Symbol.asyncDispose]());

// Runs in Node 20: one connection with a 16 KiB stream window.
const nodeScript = `
import http2 from "node:http2";
import net from "node:net";
const [socket] = process.argv.slice(1);
const session = http2.connect("http://localhost", {
  createConnection: () => net.connect(socket),
  settings: { initialWindowSize: 16384 },
});
session.on("error", (e) => { console.error(e); process.exit(1); });
function call(path, body) {
  return new Promise((resolve, reject) => {
    const req = session.request({ ":method": "POST", ":path": path, "content-type": "application/grpc", te: "trailers" });
    const chunks = [];
    let trailers = {};
    req.on("data", (c) => chunks.push(c));
    req.on("trailers", (t) => { trailers = t; });
    req.on("error", reject);
    req.on("end", () => resolve({ body: Buffer.concat(chunks), status: trailers["grpc-status"] }));
    const framed = Buffer.alloc(5 + body.length);
    framed.writeUInt32BE(body.length, 1);
    framed.set(body, 5);
    req.end(framed);
  });
}
const size = 16 << 20;
const n = Buffer.alloc(4); n.writeUInt32BE(size);
const big = await call("/t.S/Big", n);
const up = await call("/t.S/Size", Buffer.alloc(size, 1));
const many = await Promise.all(Array.from({ length: 500 }, (_, i) => call("/t.S/Echo", Buffer.from(String(i)))));
console.log(JSON.stringify({
  big: { status: big.status, length: big.body.length, prefix: big.body.readUInt32BE(1), ok: big.body.subarray(5).every((b) => b === 0x5a) },
  up: { status: up.status, size: up.body.readUInt32BE(5) },
  many: many.every((r, i) => r.status === "0" && r.body.subarray(5).toString() === String(i)),
}));
session.close();
`;

test.skipIf(!hasNode)(
  "Node's http2 client: 16 MiB each way with a 16 KiB window, 500 calls at once",
  async () => {
    const p = Bun.spawn(["node", "--input-type=module", "-e", nodeScript, running.socket], {
      stdout: "pipe",
      stderr: "pipe",
    });
    const [out, err, code] = await Promise.all([
      new Response(p.stdout).text(),
      new Response(p.stderr).text(),
      p.exited,
    ]);
    expect(err).toBe("");
    expect(code).toBe(0);
    expect(JSON.parse(out)).toEqual({
      big: { status: "0", length: (16 << 20) + 5, prefix: 16 << 20, ok: true },
      up: { status: "0", size: 16 << 20 },
      many: true,
    });
  },
);

test.skipIf(!hasH2load)(
  "h2load: 20,000 calls over 4 connections, 100 streams each, all succeed",
  async () => {
    const body = `${running.dir}/empty.bin`;
    await Bun.write(body, new Uint8Array(5));
    const p = Bun.spawn(
      [
        "h2load",
        "-B",
        `unix:${running.socket}`,
        "-n",
        "20000",
        "-c",
        "4",
        "-m",
        "100",
        "-H",
        "content-type: application/grpc",
        "-H",
        "te: trailers",
        "-d",
        body,
        "http://localhost/t.S/Echo",
      ],
      { stdout: "pipe", stderr: "pipe" },
    );
    const [out, code] = await Promise.all([new Response(p.stdout).text(), p.exited]);
    expect(code).toBe(0);
    expect(out).toContain("requests: 20000 total, 20000 started, 20000 done, 20000 succeeded, 0 failed");
    expect(out).toContain("status codes: 20000 2xx");
  },
);
