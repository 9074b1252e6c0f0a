/** The gRPC server against a Connect client over a unix socket: every method kind, errors,
 *  cancellation both ways, deadlines, size limits, namespaces, concurrency and shutdown. */
import { afterEach, expect, test } from "bun:test";
import { existsSync, lstatSync, writeFileSync } from "node:fs";
import net from "node:net";
import { join } from "node:path";
import { BunkerError, Code as BCode, Kind, notFound } from "@bunkerd/plugin-api";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import type { CreateGrpcServer } from "../api.ts";
import {
  aborted,
  bytesMsg,
  decodeBytes,
  Echo,
  echoService,
  encodeBytes,
  fakeRouter,
  type Handler,
  quietLog,
  removeDir,
  type Running,
  serveUnix,
  sleep,
  tempDir,
  text,
  unixTransport,
} from "../test-support.ts";

export function callSuite(createGrpcServer: CreateGrpcServer): void {
  const path = (m: string) => `/${echoService}/${m}`;
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function start(handlers: Partial<Record<string, Handler>>, options = {}): Promise<Running> {
    const table: Parameters<typeof fakeRouter>[0] = {};
    const kinds = {
      Unary: "unary",
      ServerStream: "server_streaming",
      ClientStream: "client_streaming",
      Bidi: "bidi_streaming",
      Namespaced: "unary",
    } as const;
    for (const [m, handler] of Object.entries(handlers)) {
      if (handler)
        table[path(m)] = { kind: kinds[m as keyof typeof kinds], namespaced: m === "Namespaced", handler };
    }
    const running = await serveUnix(fakeRouter(table), options, createGrpcServer);
    cleanups.push(() => running[Symbol.asyncDispose]());
    return running;
  }

  function client(socket: string, options: { readMaxBytes?: number; writeMaxBytes?: number } = {}) {
    return createClient(Echo, unixTransport(socket, options));
  }

  async function codeOf(p: Promise<unknown>): Promise<[Code, string]> {
    try {
      await p;
    } catch (e) {
      const c = ConnectError.from(e);
      return [c.code, c.rawMessage];
    }
    throw new Error("call succeeded");
  }

  const first = <T>(stream: AsyncIterable<T>) => stream[Symbol.asyncIterator]().next();

  const unaryEcho: Handler = async (req) => req as Uint8Array;

  async function* chunks(n: number, size: number) {
    for (let i = 0; i < n; i++) yield bytesMsg(new Uint8Array(size).fill(i & 0xff));
  }

  test("unary: the reply comes back, and the handler sees the call's context", async () => {
    let seen: Parameters<Handler>[1] | undefined;
    const { socket } = await start({
      Namespaced: async (req, ctx) => {
        seen = ctx;
        return encodeBytes(`${ctx.namespace}:${text(decodeBytes(req as Uint8Array))}`);
      },
    });
    const reply = await client(socket).namespaced(bytesMsg("hi"), {
      headers: { "containerd-namespace": "k8s.io", "containerd-lease": "lease-1", "x-trace": "t1" },
      timeoutMs: 30_000,
    });
    expect(text(reply.value)).toBe("k8s.io:hi");
    expect(seen?.method).toBe(path("Namespaced"));
    expect(seen?.protocol).toBe("grpc");
    expect(seen?.lease).toBe("lease-1");
    expect(seen?.metadata["x-trace"]).toEqual(["t1"]);
    expect(seen?.metadata[":path"]).toBeUndefined();
    expect(seen!.deadline! - Date.now()).toBeGreaterThan(20_000);
    expect(seen?.signal.aborted).toBe(false);
  });

  test("namespace: missing is FailedPrecondition, malformed is InvalidArgument (containerd's words)", async () => {
    let calls = 0;
    const { socket } = await start({
      Namespaced: async (req) => {
        calls++;
        return req as Uint8Array;
      },
    });
    const c = client(socket);
    expect(await codeOf(c.namespaced(bytesMsg("x")))).toEqual([
      Code.FailedPrecondition,
      "namespace is required: failed precondition",
    ]);
    expect(await codeOf(c.namespaced(bytesMsg("x"), { headers: { "containerd-namespace": "" } }))).toEqual([
      Code.FailedPrecondition,
      "namespace is required: failed precondition",
    ]);
    const [code, message] = await codeOf(
      c.namespaced(bytesMsg("x"), { headers: { "containerd-namespace": "no spaces" } }),
    );
    expect(code).toBe(Code.InvalidArgument);
    expect(message).toBe(
      'namespace validation: identifier "no spaces" must match ^[A-Za-z0-9]+(?:[._-](?:[A-Za-z0-9]+))*$: invalid argument',
    );
    const long = "a".repeat(77);
    expect(
      (await codeOf(c.namespaced(bytesMsg("x"), { headers: { "containerd-namespace": long } })))[0],
    ).toBe(Code.InvalidArgument);
    expect(calls).toBe(0);
    // A method that is not namespaced needs none.
    const { socket: s2 } = await start({ Unary: unaryEcho });
    expect(text((await client(s2).unary(bytesMsg("ok"))).value)).toBe("ok");
  });

  test("unknown methods are Unimplemented with grpc-go's wording, not a transport error", async () => {
    const { socket } = await start({ Unary: unaryEcho });
    expect(await codeOf(first(client(socket).serverStream(bytesMsg("x"))))).toEqual([
      Code.Unimplemented,
      `unknown method ServerStream for service ${echoService}`,
    ]);
    const running = await serveUnix({ lookup: () => undefined }, {}, createGrpcServer);
    cleanups.push(() => running[Symbol.asyncDispose]());
    expect(await codeOf(client(running.socket).unary(bytesMsg("x")))).toEqual([
      Code.Unimplemented,
      `unknown service ${echoService}`,
    ]);
  });

  test("handler errors map once: BunkerError keeps kind and message, others via toBunkerError", async () => {
    const errors: Record<string, unknown> = {
      nf: notFound('image "docker.io/library/x:1"'),
      plain: new Error("disk on fire"),
      enoent: Object.assign(new Error("open /nope: no such file"), { code: "ENOENT" }),
      sync: "thrown synchronously",
    };
    const { socket } = await start({
      Unary: (req) => {
        const key = text(decodeBytes(req as Uint8Array));
        if (key === "sync") throw errors.sync;
        return Promise.reject(errors[key]);
      },
    });
    const c = client(socket);
    expect(await codeOf(c.unary(bytesMsg("nf")))).toEqual([
      Code.NotFound,
      'image "docker.io/library/x:1": not found',
    ]);
    expect(await codeOf(c.unary(bytesMsg("plain")))).toEqual([Code.Unknown, "disk on fire"]);
    expect(await codeOf(c.unary(bytesMsg("enoent")))).toEqual([
      Code.NotFound,
      "open /nope: no such file: not found",
    ]);
    expect(await codeOf(c.unary(bytesMsg("sync")))).toEqual([Code.Unknown, "thrown synchronously"]);
  });

  test("server streaming: every reply in order, through HTTP/2 flow control", async () => {
    const { socket } = await start({
      ServerStream: async function* (req) {
        const n = Number(text(decodeBytes(req as Uint8Array)));
        for (let i = 0; i < n; i++) yield encodeBytes(new Uint8Array(64 * 1024).fill(i & 0xff));
      },
    });
    let count = 0;
    for await (const m of client(socket).serverStream(bytesMsg("200"))) {
      expect(m.value.length).toBe(64 * 1024);
      expect(m.value[0]).toBe(count & 0xff);
      count++;
    }
    expect(count).toBe(200);
  });

  test("server streaming: a handler error after some replies ends the stream with its status", async () => {
    const { socket } = await start({
      ServerStream: async function* () {
        yield encodeBytes("one");
        yield encodeBytes("two");
        throw new BunkerError(Kind.Unavailable, "shim gone");
      },
    });
    const got: string[] = [];
    const [code, message] = await codeOf(
      (async () => {
        for await (const m of client(socket).serverStream(bytesMsg(""))) got.push(text(m.value));
      })(),
    );
    expect(got).toEqual(["one", "two"]);
    expect([code, message]).toEqual([Code.Unavailable, "shim gone: unavailable"]);
  });

  test("client streaming: the handler reads every request until END_STREAM", async () => {
    const { socket } = await start({
      ClientStream: async (reqs) => {
        let n = 0;
        let bytes = 0;
        for await (const r of reqs as AsyncIterable<Uint8Array>) {
          n++;
          bytes += decodeBytes(r).length;
        }
        return encodeBytes(`${n}/${bytes}`);
      },
    });
    const reply = await client(socket).clientStream(chunks(100, 64 * 1024));
    expect(text(reply.value)).toBe(`100/${100 * 64 * 1024}`);
  });

  test("bidi: replies interleave with requests, 64 KiB messages", async () => {
    const { socket } = await start({
      Bidi: async function* (reqs) {
        for await (const r of reqs as AsyncIterable<Uint8Array>) yield r;
      },
    });
    let i = 0;
    for await (const m of client(socket).bidi(chunks(64, 64 * 1024))) {
      expect(m.value.length).toBe(64 * 1024);
      expect(m.value[0]).toBe(i++ & 0xff);
    }
    expect(i).toBe(64);
  });

  test("client cancel reaches the handler: its signal aborts and its stream is closed", async () => {
    let reason: unknown;
    let closed = false;
    const { socket } = await start({
      ServerStream: async function* (_req, ctx) {
        try {
          yield encodeBytes("first");
          reason = await aborted(ctx.signal);
        } finally {
          closed = true;
        }
      },
      Unary: async (_req, ctx) => {
        throw await aborted(ctx.signal);
      },
    });
    const c = client(socket);
    const ac = new AbortController();
    const it = c.serverStream(bytesMsg(""), { signal: ac.signal })[Symbol.asyncIterator]();
    expect(text((await it.next()).value!.value)).toBe("first");
    ac.abort();
    await expect(it.next()).rejects.toMatchObject({ code: Code.Canceled });
    for (let i = 0; i < 100 && !closed; i++) await sleep(10);
    expect(closed).toBe(true);
    expect(reason).toBeInstanceOf(BunkerError);
    expect((reason as BunkerError).code).toBe(BCode.Canceled);

    const ac2 = new AbortController();
    const p = c.unary(bytesMsg(""), { signal: ac2.signal });
    await sleep(50);
    ac2.abort();
    expect((await codeOf(p))[0]).toBe(Code.Canceled);
  });

  // The client's own timer and the server's fire together here, so the handler sees whichever
  // comes first; raw.test.ts proves the server's deadline alone.
  test("deadline: the client gets DeadlineExceeded and the handler's signal aborts", async () => {
    let reason: unknown;
    const { socket } = await start({
      Unary: async (_req, ctx) => {
        reason = await aborted(ctx.signal);
        throw reason;
      },
    });
    const started = Date.now();
    expect((await codeOf(client(socket).unary(bytesMsg(""), { timeoutMs: 150 })))[0]).toBe(
      Code.DeadlineExceeded,
    );
    for (let i = 0; i < 100 && !reason; i++) await sleep(10);
    expect([BCode.DeadlineExceeded, BCode.Canceled] as number[]).toContain((reason as BunkerError).code);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  test("size limits: oversize requests and replies are ResourceExhausted; the connection lives on", async () => {
    const { socket } = await start(
      {
        Unary: async (req) => {
          const size = Number(text(decodeBytes(req as Uint8Array)));
          return Number.isNaN(size) ? (req as Uint8Array) : encodeBytes(new Uint8Array(size));
        },
        ClientStream: async (reqs) => {
          for await (const _ of reqs as AsyncIterable<Uint8Array>);
          return encodeBytes("done");
        },
      },
      { maxRecvMessageSize: 1024, maxSendMessageSize: 4096 },
    );
    const c = client(socket);
    const big = bytesMsg(new Uint8Array(2000));
    expect(await codeOf(c.unary(big))).toEqual([
      Code.ResourceExhausted,
      "grpc: received message larger than max (2003 vs. 1024)",
    ]);
    expect(await codeOf(c.clientStream(chunks(3, 2000)))).toEqual([
      Code.ResourceExhausted,
      "grpc: received message larger than max (2003 vs. 1024)",
    ]);
    expect(await codeOf(c.unary(bytesMsg("5000")))).toEqual([
      Code.ResourceExhausted,
      "grpc: trying to send message larger than max (5003 vs. 4096)",
    ]);
    expect((await c.unary(bytesMsg("4000"))).value.length).toBe(4000);
  });

  test("1,000 concurrent calls on one connection are all in flight at once", async () => {
    const n = 1000;
    let arrived = 0;
    let release!: () => void;
    const all = new Promise<void>((r) => {
      release = r;
    });
    const { socket } = await start({
      Unary: async (req) => {
        if (++arrived === n) release();
        await all;
        return req as Uint8Array;
      },
    });
    let connections = 0;
    // unixTransport's shape, counting the connections it opens.
    const counting = createClient(
      Echo,
      createGrpcTransport({
        baseUrl: "http://localhost",
        nodeOptions: {
          createConnection: () => {
            connections++;
            return net.connect(socket);
          },
        },
      }),
    );
    const replies = await Promise.all(
      Array.from({ length: n }, (_, i) => counting.unary(bytesMsg(String(i)), { timeoutMs: 30_000 })),
    );
    expect(replies.map((r) => text(r.value))).toEqual(Array.from({ length: n }, (_, i) => String(i)));
    expect(arrived).toBe(n);
    expect(connections).toBe(1);
  });

  test("onCall reports method, code, duration and kind for every routed call", async () => {
    const calls: [string, number, number, string][] = [];
    const { socket } = await start(
      { Unary: unaryEcho, Namespaced: unaryEcho },
      { onCall: (m: string, c: number, s: number, k: string) => calls.push([m, c, s, k]) },
    );
    const c = client(socket);
    await c.unary(bytesMsg("x"));
    await codeOf(c.namespaced(bytesMsg("x")));
    await codeOf(first(c.bidi(chunks(1, 1)))); // unknown: not reported
    await sleep(20);
    expect(calls.map(([m, code, , k]) => [m, code, k])).toEqual([
      [path("Unary"), 0, "unary"],
      [path("Namespaced"), BCode.FailedPrecondition, "unary"],
    ]);
    expect(calls[0]![2]).toBeGreaterThanOrEqual(0);
    expect(calls[0]![2]).toBeLessThan(5);
  });

  test("close: in-flight calls finish within the grace period, then the rest are cut", async () => {
    const dir = tempDir();
    cleanups.push(() => removeDir(dir));
    const socket = join(dir, "g.sock");
    let cutReason: unknown;
    const server = createGrpcServer({
      router: fakeRouter({
        [path("Unary")]: {
          kind: "unary",
          handler: async (req, ctx) => {
            const ms = Number(text(decodeBytes(req as Uint8Array)));
            await Promise.race([sleep(ms), aborted(ctx.signal).then((r) => (cutReason = r))]);
            return req as Uint8Array;
          },
        },
      }),
      maxRecvMessageSize: 1 << 20,
      maxSendMessageSize: 1 << 20,
      log: quietLog,
    });
    await server.listenUnix(socket);
    const c = client(socket);
    const quick = c.unary(bytesMsg("100"));
    const slow = codeOf(c.unary(bytesMsg("60000")));
    await sleep(30);
    const started = Date.now();
    await server.close(400);
    expect(Date.now() - started).toBeLessThan(3000);
    expect(text((await quick).value)).toBe("100");
    expect(await slow).toEqual([Code.Unavailable, "server is shutting down"]);
    expect((cutReason as BunkerError).code).toBe(BCode.Unavailable);
    expect(existsSync(socket)).toBe(false);
  });

  test("listenUnix: replaces a stale socket, refuses a live one or a non-socket, applies the mode", async () => {
    const dir = tempDir();
    cleanups.push(() => removeDir(dir));
    const socket = join(dir, "sub", "bunkerd.sock");
    const mk = () =>
      createGrpcServer({
        router: fakeRouter({}),
        maxRecvMessageSize: 1,
        maxSendMessageSize: 1,
        log: quietLog,
      });

    // A stale socket file: its listener is gone.
    const { mkdirSync } = await import("node:fs");
    mkdirSync(join(dir, "sub"));
    const stale = net.createServer();
    await new Promise<void>((r) => stale.listen(socket, r));
    stale.close();
    if (!existsSync(socket)) {
      // Some runtimes unlink on close; make a stale file the hard way.
      const { spawnSync } = await import("node:child_process");
      spawnSync("python3", [
        "-c",
        `import socket; s=socket.socket(socket.AF_UNIX); s.bind(${JSON.stringify(socket)})`,
      ]);
    }
    expect(lstatSync(socket).isSocket()).toBe(true);

    const first = mk();
    const asRoot = process.getuid?.() === 0;
    await first.listenUnix(socket, asRoot ? { mode: 0o600, uid: 65534, gid: 65534 } : { mode: 0o600 });
    cleanups.push(() => first.close(0));
    const st = lstatSync(socket);
    expect(st.mode & 0o777).toBe(0o600);
    if (asRoot) expect([st.uid, st.gid]).toEqual([65534, 65534]);

    await expect(mk().listenUnix(socket)).rejects.toThrow(`${socket} is in use by another daemon`);

    const file = join(dir, "plain-file");
    writeFileSync(file, "");
    await expect(mk().listenUnix(file)).rejects.toThrow("is not a socket");
  });
}
