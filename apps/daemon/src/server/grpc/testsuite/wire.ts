/** The wire format itself, with a bare node:http2 client: HTTP statuses, trailers-only
 *  responses, framing errors, grpc-timeout on the server's own clock, grpc-message encoding. */
import { afterAll, beforeAll, expect, test } from "bun:test";
import type { CreateGrpcServer } from "../api.ts";
import http2 from "node:http2";
import net from "node:net";
import { BunkerError, type CallContext, Kind } from "@bunkerd/plugin-api";
import { frame } from "../framing.ts";
import { decodeGrpcMessage } from "../status.ts";
import { aborted, encodeBytes, fakeRouter, type Running, serveUnix } from "../test-support.ts";

export function wireSuite(createGrpcServer: CreateGrpcServer): void {
  let running: Running;
  let session: http2.ClientHttp2Session;
  let lastCtx: CallContext | undefined;
  let lastReason: unknown;
  const oddMessage = "bad: ünïcode 100%\ttab\nline";

  beforeAll(async () => {
    running = await serveUnix(
      fakeRouter({
        "/t.S/Echo": {
          kind: "unary",
          handler: async (req, ctx) => {
            lastCtx = ctx;
            return req as Uint8Array;
          },
        },
        "/t.S/Hang": {
          kind: "unary",
          handler: async (_req, ctx) => {
            lastReason = await aborted(ctx.signal);
            throw lastReason;
          },
        },
        "/t.S/Odd": {
          kind: "unary",
          handler: async () => {
            throw new BunkerError(Kind.InvalidArgument, oddMessage);
          },
        },
        "/t.S/Collect": {
          kind: "client_streaming",
          handler: async (reqs) => {
            let n = 0;
            for await (const _ of reqs as AsyncIterable<Uint8Array>) n++;
            return encodeBytes(String(n));
          },
        },
      }),
      { maxRecvMessageSize: 1024 },
      createGrpcServer,
    );
    session = http2.connect("http://localhost", { createConnection: () => net.connect(running.socket) });
  });

  afterAll(async () => {
    session.close();
    await running[Symbol.asyncDispose]();
  });

  interface Reply {
    headers: http2.IncomingHttpHeaders;
    trailers: http2.IncomingHttpHeaders;
    body: Buffer;
  }

  function call(
    path: string,
    body: Uint8Array | Uint8Array[],
    extra: http2.OutgoingHttpHeaders = {},
  ): Promise<Reply> {
    return new Promise((resolve, reject) => {
      const req = session.request({
        ":method": "POST",
        ":path": path,
        "content-type": "application/grpc",
        te: "trailers",
        ...extra,
      });
      const reply: Reply = { headers: {}, trailers: {}, body: Buffer.alloc(0) };
      const chunks: Buffer[] = [];
      req.on("response", (h) => {
        reply.headers = h;
      });
      req.on("trailers", (t) => {
        reply.trailers = t;
      });
      req.on("data", (d: Buffer) => chunks.push(d));
      req.on("end", () => resolve({ ...reply, body: Buffer.concat(chunks) }));
      req.on("error", reject);
      for (const part of Array.isArray(body) ? body : [body]) req.write(part);
      req.end();
    });
  }

  const status = (r: Reply) => r.trailers["grpc-status"] ?? r.headers["grpc-status"];
  const message = (r: Reply) =>
    decodeGrpcMessage(String(r.trailers["grpc-message"] ?? r.headers["grpc-message"] ?? ""));

  test("a reply is HTTP 200, application/grpc, one framed message, then grpc-status 0 in trailers", async () => {
    const r = await call("/t.S/Echo", frame(encodeBytes("hello")), { "x-custom": "v1" });
    expect(Number(r.headers[":status"])).toBe(200);
    expect(r.headers["content-type"]).toBe("application/grpc");
    expect(r.headers["grpc-status"]).toBeUndefined();
    expect(r.trailers["grpc-status"]).toBe("0");
    expect(r.body).toEqual(frame(encodeBytes("hello")));
    expect(lastCtx?.metadata["x-custom"]).toEqual(["v1"]);
  });

  test("unknown service: HTTP 200 trailers-only with grpc-status 12", async () => {
    const r = await call("/no.Such/Method", frame(new Uint8Array()));
    expect(Number(r.headers[":status"])).toBe(200);
    expect(r.headers["grpc-status"]).toBe("12");
    expect(message(r)).toBe("unknown service no.Such");
    expect(r.body.length).toBe(0);
    const bad = await call("/nonsense", frame(new Uint8Array()));
    expect([status(bad), message(bad)]).toEqual(["12", 'malformed method name: "/nonsense"']);
  });

  test("a non-gRPC content-type is HTTP 415", async () => {
    const r = await call("/t.S/Echo", frame(new Uint8Array()), { "content-type": "application/json" });
    expect(Number(r.headers[":status"])).toBe(415);
    const web = await call("/t.S/Echo", frame(new Uint8Array()), { "content-type": "application/grpc-web" });
    expect(Number(web.headers[":status"])).toBe(415);
    const proto = await call("/t.S/Echo", frame(new Uint8Array()), {
      "content-type": "application/grpc+proto",
    });
    expect(status(proto)).toBe("0");
  });

  test("grpc-timeout is enforced by the server's own clock", async () => {
    const started = Date.now();
    const r = await call("/t.S/Hang", frame(new Uint8Array()), { "grpc-timeout": "50m" });
    expect([status(r), message(r)]).toEqual(["4", "context deadline exceeded"]);
    expect(Date.now() - started).toBeLessThan(2000);
    expect((lastReason as BunkerError).kind).toBe(Kind.DeadlineExceeded);
    const far = await call("/t.S/Echo", frame(encodeBytes("x")), { "grpc-timeout": "99999999H" });
    expect(status(far)).toBe("0");
    expect(lastCtx!.deadline! - Date.now()).toBeGreaterThan(1e14);
    const bad = await call("/t.S/Echo", frame(new Uint8Array()), { "grpc-timeout": "5 seconds" });
    expect(status(bad)).toBe("13");
  });

  test("grpc-message is percent-encoded", async () => {
    const r = await call("/t.S/Odd", frame(new Uint8Array()));
    expect(status(r)).toBe("3");
    const raw = String(r.headers["grpc-message"]);
    expect(raw).toMatch(/^[\x20-\x7e]*$/);
    expect(raw).toContain("100%25");
    expect(message(r)).toBe(`${oddMessage}: invalid argument`);
  });

  test("framing: compressed, truncated, missing and extra messages are refused", async () => {
    const compressed = frame(encodeBytes("x"));
    compressed[0] = 1;
    const gz = await call("/t.S/Echo", compressed, { "grpc-encoding": "gzip" });
    expect(status(gz)).toBe("12");
    expect(message(gz)).toContain("compression not supported");
    expect(status(await call("/t.S/Echo", compressed))).toBe("13");
    expect(status(await call("/t.S/Echo", frame(encodeBytes("hello")).subarray(0, 7)))).toBe("13");
    expect(status(await call("/t.S/Echo", new Uint8Array()))).toBe("13");
    expect(status(await call("/t.S/Echo", [frame(encodeBytes("a")), frame(encodeBytes("b"))]))).toBe("13");
  });

  test("messages split across DATA frames and several per frame are reassembled", async () => {
    const m = frame(encodeBytes("0123456789"));
    const r = await call("/t.S/Collect", [
      m.subarray(0, 2),
      m.subarray(2, 9),
      Buffer.concat([m.subarray(9), m, m]),
    ]);
    expect(status(r)).toBe("0");
    expect(r.body).toEqual(frame(encodeBytes("3")));
  });

  test("an oversize message is refused from its prefix, before it is buffered", async () => {
    const prefix = Buffer.from([0, 0, 0x10, 0, 0]); // claims 1 MiB; the limit here is 1 KiB
    const r = await call("/t.S/Echo", [prefix, Buffer.alloc(4096)]);
    expect([status(r), message(r)]).toEqual([
      "8",
      "grpc: received message larger than max (1048576 vs. 1024)",
    ]);
  });
}
