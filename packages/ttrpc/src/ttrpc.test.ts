/** Client ↔ server over a real unix socket in a temp dir. */

import { afterEach, beforeEach, expect, spyOn, test } from "bun:test";
import { existsSync, statSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Code, notFound, notImplemented } from "@bunkerd/plugin-api";
import { RequestSchema, ResponseSchema } from "@bunkerd/proto/ttrpc/request_pb.ts";
import type { Socket } from "bun";
import { createTtrpcServer, type TtrpcCallContext, TtrpcClient, type TtrpcServer } from "./index.ts";
import { encodeFrame, type Frame, FrameDecoder, MAX_MESSAGE_LENGTH, MessageType } from "./frame.ts";
import { SocketWriter } from "./writer.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const text = (s: string) => enc.encode(s);

let dir: string;
let path: string;
const servers: TtrpcServer[] = [];
const clients: TtrpcClient[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "ttrpc-test-"));
  path = join(dir, "t.sock");
});

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await Promise.all(servers.splice(0).map((s) => s.close({ timeoutMs: 50 })));
  await rm(dir, { recursive: true, force: true });
});

type Handler = (method: string, payload: Uint8Array, ctx: TtrpcCallContext) => Promise<Uint8Array>;

async function serve(handler: Handler, options: { closeTimeoutMs?: number; mode?: number } = {}) {
  const server = createTtrpcServer({
    dispatch: (service, method, payload, ctx) => {
      if (service !== "test.v1.Test") throw notImplemented(`service ${service}`);
      return handler(method, payload, ctx);
    },
    closeTimeoutMs: options.closeTimeoutMs,
  });
  await server.listen(path, { mode: options.mode });
  servers.push(server);
  return server;
}

async function connect() {
  const client = await TtrpcClient.connect(path);
  clients.push(client);
  return client;
}

const echo: Handler = async (_m, payload) => payload;

test("unary call: the payload goes there and back", async () => {
  await serve(async (method, payload) => text(`${method}:${dec.decode(payload)}`));
  const client = await connect();
  expect(dec.decode(await client.call("test.v1.Test", "Echo", text("hi")))).toBe("Echo:hi");
  expect(await client.call("test.v1.Test", "Echo", new Uint8Array(0))).toEqual(text("Echo:"));
});

test("500 concurrent calls on one connection are answered out of order and matched by stream id", async () => {
  const waiting: (() => void)[] = [];
  const answered: number[] = [];
  await serve(async (_m, payload) => {
    const n = Number(dec.decode(payload));
    // Hold every call until all 500 are in, then let them finish last-in first-out.
    await new Promise<void>((resolve) => {
      waiting.push(() => {
        answered.push(n);
        resolve();
      });
      if (waiting.length === 500) for (const release of waiting.reverse()) release();
    });
    return text(`r${n}`);
  });
  const client = await connect();
  const results = await Promise.all(
    Array.from({ length: 500 }, (_, i) => client.call("test.v1.Test", "N", text(String(i)))),
  );
  expect(results.map((r) => dec.decode(r))).toEqual(Array.from({ length: 500 }, (_, i) => `r${i}`));
  expect(answered[0]).toBe(499);
  expect(answered.at(-1)).toBe(0);
});

test("each connection has its own stream ids and state; one closing leaves the others alone", async () => {
  const server = await serve(echo);
  const [a, b] = await Promise.all([connect(), connect()]);
  expect(server.connectionCount).toBe(2);
  const [ra, rb] = await Promise.all([
    a.call("test.v1.Test", "E", text("a")),
    b.call("test.v1.Test", "E", text("b")),
  ]);
  expect([dec.decode(ra), dec.decode(rb)]).toEqual(["a", "b"]);
  a.close();
  expect(dec.decode(await b.call("test.v1.Test", "E", text("still")))).toBe("still");
  for (let i = 0; i < 50 && server.connectionCount > 1; i++) await Bun.sleep(10);
  expect(server.connectionCount).toBe(1);
});

test("metadata arrives lower-cased with every value; timeout_nano becomes a deadline", async () => {
  let seen: TtrpcCallContext | undefined;
  await serve(async (_m, _p, ctx) => {
    seen = ctx;
    return new Uint8Array(0);
  });
  const client = await connect();
  const before = Date.now();
  await client.call("test.v1.Test", "M", new Uint8Array(0), {
    metadata: { "Containerd-Namespace-Ttrpc": "default", multi: ["a", "b"] },
    timeoutMs: 10_000,
  });
  expect({ ...seen!.metadata }).toEqual({ "containerd-namespace-ttrpc": ["default"], multi: ["a", "b"] });
  expect(seen!.deadline).toBeGreaterThanOrEqual(before + 9_000);
  expect(seen!.deadline).toBeLessThanOrEqual(Date.now() + 10_000);
  expect(seen!.signal.aborted).toBe(false);
  // A deadline beyond what a timer can hold (~24.8 days) must not fire at once on either side.
  const month = 30 * 24 * 3600 * 1000;
  await client.call("test.v1.Test", "M", new Uint8Array(0), { timeoutMs: month });
  expect(seen!.deadline).toBeGreaterThan(Date.now() + month - 60_000);
  expect(seen!.signal.aborted).toBe(false);
  await client.call("test.v1.Test", "M", new Uint8Array(0));
  expect(seen!.deadline).toBeUndefined();
  expect({ ...seen!.metadata }).toEqual({});
});

test("errors keep their code and message across the wire", async () => {
  await serve(async (method) => {
    if (method === "Kind") throw notFound('container "x"');
    if (method === "Coded") throw Object.assign(new Error("quota"), { code: Code.ResourceExhausted });
    if (method === "Errno") throw Object.assign(new Error("ENOENT: no such file"), { code: "ENOENT" });
    if (method === "Sync") throw new Error("thrown before any await");
    throw new Error("boom");
  });
  const client = await connect();
  const call = (method: string, service = "test.v1.Test") => client.call(service, method, new Uint8Array(0));
  await expect(call("Kind")).rejects.toMatchObject({
    code: Code.NotFound,
    message: 'container "x": not found',
  });
  await expect(call("Coded")).rejects.toMatchObject({ code: Code.ResourceExhausted, message: "quota" });
  await expect(call("Errno")).rejects.toMatchObject({
    code: Code.NotFound,
    message: "ENOENT: no such file: not found",
  });
  await expect(call("Other")).rejects.toMatchObject({ code: Code.Unknown, message: "boom" });
  await expect(call("X", "nope.v1.Nope")).rejects.toMatchObject({
    code: Code.Unimplemented,
    message: "service nope.v1.Nope: not implemented",
  });
  // The connection is still good after errors.
  await expect(client.call("test.v1.Test", "Kind", new Uint8Array(0))).rejects.toMatchObject({ code: 5 });
});

test("a dispatcher that throws synchronously still answers", async () => {
  const server = createTtrpcServer({
    dispatch: () => {
      throw notImplemented("sync");
    },
  });
  await server.listen(path);
  servers.push(server);
  const client = await connect();
  await expect(client.call("a", "b", new Uint8Array(0))).rejects.toMatchObject({ code: Code.Unimplemented });
});

test("timeout: the client fails with DeadlineExceeded and the handler's signal aborts", async () => {
  let aborted: Promise<unknown> | undefined;
  await serve(async (_m, _p, ctx) => {
    aborted = new Promise((resolve) =>
      ctx.signal.addEventListener("abort", () => resolve(ctx.signal.reason)),
    );
    await aborted;
    return new Uint8Array(0);
  });
  const client = await connect();
  await expect(
    client.call("test.v1.Test", "Slow", new Uint8Array(0), { timeoutMs: 50 }),
  ).rejects.toMatchObject({
    code: Code.DeadlineExceeded,
  });
  expect(await aborted).toMatchObject({ code: Code.DeadlineExceeded });
  // A late answer for a stream the client gave up on is ignored; the connection keeps working.
  expect(
    await client.call("test.v1.Test", "Slow", new Uint8Array(0), { timeoutMs: 20 }).catch((e) => e.code),
  ).toBe(Code.DeadlineExceeded);
});

test("an aborted signal fails the call with Canceled", async () => {
  await serve(() => new Promise(() => {}));
  const client = await connect();
  const ac = new AbortController();
  const pending = client.call("test.v1.Test", "Hang", new Uint8Array(0), { signal: ac.signal });
  ac.abort();
  await expect(pending).rejects.toMatchObject({ code: Code.Canceled });
  await expect(
    client.call("test.v1.Test", "X", new Uint8Array(0), { signal: ac.signal }),
  ).rejects.toMatchObject({
    code: Code.Canceled,
  });
});

test("~3 MiB payloads both ways go through partial writes intact", async () => {
  await serve(async (_m, payload) => payload.map((b) => b ^ 0xff));
  const client = await connect();
  const drains = spyOn(SocketWriter.prototype, "flush");
  const big = Uint8Array.from({ length: 3 * 1024 * 1024 + 17 }, (_, i) => (i * 7) & 0xff);
  const calls = [client.call("test.v1.Test", "Big", big), client.call("test.v1.Test", "Big", big)];
  for (const out of await Promise.all(calls)) {
    expect(out.length).toBe(big.length);
    expect(out.every((b, i) => b === (big[i]! ^ 0xff))).toBe(true);
  }
  // The socket took less than was written and the rest went out from `drain`.
  expect(drains).toHaveBeenCalled();
  drains.mockRestore();
});

test("a message over 4 MiB is refused: the client does not send it, the server does not answer with it", async () => {
  await serve(async (method) => new Uint8Array(method === "Huge" ? MAX_MESSAGE_LENGTH + 1 : 1));
  const client = await connect();
  await expect(client.call("test.v1.Test", "X", new Uint8Array(MAX_MESSAGE_LENGTH))).rejects.toMatchObject({
    code: Code.ResourceExhausted,
  });
  await expect(client.call("test.v1.Test", "Huge", new Uint8Array(0))).rejects.toMatchObject({
    code: Code.ResourceExhausted,
  });
  expect(await client.call("test.v1.Test", "Small", new Uint8Array(0))).toEqual(new Uint8Array(1));
});

/** A raw peer speaking frames by hand, to send what our client never would. */
async function rawPeer() {
  const decoder = new FrameDecoder();
  const frames: Frame[] = [];
  let wake = () => {};
  let writer!: SocketWriter;
  const socket: Socket<undefined> = await Bun.connect({
    unix: path,
    socket: {
      binaryType: "uint8array",
      open: (s) => {
        writer = new SocketWriter(s);
      },
      data: (_s, chunk) => {
        for (const f of decoder.push(chunk)) if (!("oversized" in f)) frames.push(f);
        wake();
      },
      drain: () => writer.flush(),
    },
  });
  const request = (service: string, method: string) =>
    toBinary(RequestSchema, create(RequestSchema, { service, method, payload: text("x") }));
  return {
    send: (streamId: number, type: number, payload: Uint8Array) =>
      writer.write(encodeFrame({ streamId, type, flags: 0 }, payload, Number.MAX_SAFE_INTEGER)),
    request,
    async next(): Promise<{ streamId: number; code: number; message: string; payload: Uint8Array }> {
      while (frames.length === 0) await new Promise<void>((r) => (wake = r));
      const f = frames.shift()!;
      expect(f.type).toBe(MessageType.Response);
      const r = fromBinary(ResponseSchema, f.payload);
      return { streamId: f.streamId, code: r.status!.code, message: r.status!.message, payload: r.payload };
    },
    close: () => socket.end(),
  };
}

test("the server answers ResourceExhausted for an oversized request frame and keeps the connection", async () => {
  await serve(echo);
  const peer = await rawPeer();
  peer.send(1, MessageType.Request, new Uint8Array(MAX_MESSAGE_LENGTH + 1));
  expect(await peer.next()).toMatchObject({
    streamId: 1,
    code: Code.ResourceExhausted,
    message: `message length ${MAX_MESSAGE_LENGTH + 1} exceed maximum message size of ${MAX_MESSAGE_LENGTH}`,
  });
  peer.send(3, MessageType.Request, peer.request("test.v1.Test", "Echo"));
  expect(await peer.next()).toMatchObject({ streamId: 3, code: Code.OK, payload: text("x") });
  peer.close();
});

test("the server enforces odd, increasing stream ids and a well-formed request", async () => {
  await serve(echo);
  const peer = await rawPeer();
  peer.send(2, MessageType.Request, peer.request("test.v1.Test", "Echo"));
  expect(await peer.next()).toMatchObject({ streamId: 2, code: Code.InvalidArgument });
  peer.send(5, MessageType.Request, peer.request("test.v1.Test", "Echo"));
  expect(await peer.next()).toMatchObject({ streamId: 5, code: Code.OK });
  peer.send(3, MessageType.Request, peer.request("test.v1.Test", "Echo"));
  expect(await peer.next()).toMatchObject({ streamId: 3, code: Code.InvalidArgument });
  peer.send(7, MessageType.Request, Uint8Array.of(0xff, 0xff, 0xff));
  expect(await peer.next()).toMatchObject({ streamId: 7, code: Code.InvalidArgument });
  peer.close();
});

test("server close waits for a call in flight, then closes and removes the socket file", async () => {
  let release = () => {};
  const server = await serve(async () => {
    await new Promise<void>((r) => (release = r));
    return text("done");
  });
  const client = await connect();
  const pending = client.call("test.v1.Test", "Slow", new Uint8Array(0));
  await Bun.sleep(20);
  const closed = server.close({ timeoutMs: 5000 });
  await Bun.sleep(20);
  // No longer accepting, but the call in flight is still served.
  await expect(TtrpcClient.connect(path)).rejects.toMatchObject({ code: Code.Unavailable });
  expect(client.open).toBe(true);
  release();
  expect(dec.decode(await pending)).toBe("done");
  await closed;
  await client.closed;
  expect(existsSync(path)).toBe(false);
  expect(server.connectionCount).toBe(0);
  await expect(TtrpcClient.connect(path)).rejects.toMatchObject({ code: Code.Unavailable });
});

test("server close fails calls still pending after its timeout with Unavailable, at once", async () => {
  let signal: AbortSignal | undefined;
  const server = await serve(async (_m, _p, ctx) => {
    signal = ctx.signal;
    return new Promise(() => {});
  });
  const client = await connect();
  const pending = Array.from({ length: 3 }, () =>
    client.call("test.v1.Test", "Hang", new Uint8Array(0)).catch((e) => e),
  );
  await Bun.sleep(20);
  await server.close({ timeoutMs: 50 });
  for (const e of await Promise.all(pending)) expect(e).toMatchObject({ code: Code.Unavailable });
  expect(signal?.aborted).toBe(true);
  expect(client.open).toBe(false);
  await expect(client.call("test.v1.Test", "X", new Uint8Array(0))).rejects.toMatchObject({
    code: Code.Unavailable,
  });
  expect(existsSync(path)).toBe(false);
});

test("client close fails its pending calls and the server's handler sees the client go", async () => {
  let signal: AbortSignal | undefined;
  await serve(async (_m, _p, ctx) => {
    signal = ctx.signal;
    return new Promise(() => {});
  });
  const client = await connect();
  const pending = client.call("test.v1.Test", "Hang", new Uint8Array(0));
  await Bun.sleep(20);
  client.close();
  await expect(pending).rejects.toMatchObject({ code: Code.Unavailable, message: "ttrpc: closed" });
  for (let i = 0; i < 50 && !signal?.aborted; i++) await Bun.sleep(10);
  expect(signal?.aborted).toBe(true);
  expect(signal?.reason).toMatchObject({ code: Code.Canceled });
});

test("listen: socket mode, no double bind, stale socket file replaced", async () => {
  const server = await serve(echo, { mode: 0o600 });
  expect(statSync(path).mode & 0o777).toBe(0o600);
  const other = createTtrpcServer({ dispatch: async (_s, _m, payload) => payload });
  await expect(other.listen(path)).rejects.toMatchObject({ code: Code.AlreadyExists });
  // A socket file nobody serves any more: its owner was killed, so nothing unlinked it.
  const stale = join(dir, "dead.sock");
  const owner = Bun.spawn(
    [
      process.execPath,
      "-e",
      `Bun.listen({ unix: ${JSON.stringify(stale)}, socket: { data() {} } }); console.log("up")`,
    ],
    { stdout: "pipe" },
  );
  await owner.stdout.getReader().read();
  owner.kill("SIGKILL");
  await owner.exited;
  expect(existsSync(stale)).toBe(true);
  await other.listen(stale);
  const c = await TtrpcClient.connect(stale);
  expect(await c.call("x", "y", text("z"))).toEqual(text("z"));
  c.close();
  await other.close();
  await server.close();
  expect(existsSync(path)).toBe(false);
  expect(existsSync(stale)).toBe(false);
});

test("connect to a path nobody serves fails with Unavailable", async () => {
  await expect(TtrpcClient.connect(join(dir, "missing.sock"))).rejects.toMatchObject({
    code: Code.Unavailable,
  });
});
