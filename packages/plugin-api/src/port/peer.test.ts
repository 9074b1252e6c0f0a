import { expect, test } from "bun:test";
import { BunkerError, Kind, notFound } from "../errors/kinds.ts";
import { type CallHandler, PortPeer } from "./peer.ts";

type Failure = { kind: string; message: string };

function pair(handler: CallHandler) {
  const { port1, port2 } = new MessageChannel();
  const server = new PortPeer(port2, "server").serve(handler);
  const client = new PortPeer(port1, "client");
  const close = () => {
    port1.close();
    port2.close();
  };
  return { client, server, close };
}

async function* count(n: number) {
  for (let i = 0; i < n; i++) yield i;
}

test("unary call returns the value and keeps byte arrays intact", async () => {
  const { client, close } = pair(async ({ args }) => {
    const b = args[0] as Uint8Array;
    return new Uint8Array([...b].reverse());
  });
  const sent = new Uint8Array([1, 2, 3]);
  expect(await client.call("rev", [sent])).toEqual(new Uint8Array([3, 2, 1]));
  close();
});

test.each(Object.values(Kind))("error kind %s survives the port", async (kind) => {
  const { client, close } = pair(async () => {
    throw new BunkerError(kind, 'lease "l1"');
  });
  const e = (await client.call("x").catch((e: unknown) => e)) as Failure;
  expect(e).toBeInstanceOf(BunkerError);
  expect(e.kind).toBe(kind);
  close();
});

test("server stream with more items than the credit window", async () => {
  const { client, close } = pair(() => count(500));
  const got: unknown[] = [];
  for await (const v of client.stream("count")) got.push(v);
  expect(got.length).toBe(500);
  expect(got[499]).toBe(499);
  close();
});

test("client stream is consumed by the callee", async () => {
  const { client, close } = pair(async ({ input }) => {
    let sum = 0;
    for await (const v of input!) sum += v as number;
    return sum;
  });
  expect(await client.call("sum", [], { input: count(200) })).toBe(19900);
  close();
});

test("bidi: echo each input", async () => {
  const { client, close } = pair(async function* ({ input }) {
    for await (const v of input!) yield (v as number) * 2;
  });
  const got: unknown[] = [];
  for await (const v of client.stream("echo", [], { input: count(100) })) got.push(v);
  expect(got).toEqual([...Array(100).keys()].map((i) => i * 2));
  close();
});

test("backpressure: a slow consumer bounds what the producer has made", async () => {
  let made = 0;
  const { client, close } = pair(async function* () {
    for (;;) {
      made++;
      yield made;
    }
  });
  const it = client.stream("inf")[Symbol.asyncIterator]();
  await it.next();
  await Bun.sleep(50);
  expect(made).toBeLessThanOrEqual(70);
  await it.return?.();
  close();
});

test("caller cancellation aborts the callee's signal", async () => {
  let aborted: Promise<void> | undefined;
  const { client, close } = pair(({ signal }) => {
    aborted = new Promise((r) => signal.addEventListener("abort", () => r()));
    return new Promise(() => {});
  });
  const ac = new AbortController();
  const p = client.call("hang", [], { signal: ac.signal });
  await Bun.sleep(10);
  ac.abort();
  expect(((await p.catch((e: unknown) => e as Failure)) as Failure).kind).toBe(Kind.Canceled);
  await aborted;
  close();
});

test("breaking out of a stream stops the producer", async () => {
  let stopped = false;
  const { client, close } = pair(async function* () {
    try {
      for (let i = 0; ; i++) yield i;
    } finally {
      stopped = true;
    }
  });
  for await (const v of client.stream("inf")) if (v === 3) break;
  await Bun.sleep(20);
  expect(stopped).toBe(true);
  close();
});

test("a failed port fails pending calls with unavailable, at once", async () => {
  const { client, close } = pair(() => new Promise(() => {}));
  const p = client.call("hang");
  const s = client.stream("hang")[Symbol.asyncIterator]().next();
  client.fail("worker content exited");
  for (const r of [p, s]) {
    const e = (await r.catch((e: unknown) => e)) as Failure;
    expect(e.kind).toBe(Kind.Unavailable);
  }
  expect(((await client.call("later").catch((e: unknown) => e as Failure)) as Failure).kind).toBe(
    Kind.Unavailable,
  );
  close();
});

test("not found keeps containerd's wording", async () => {
  const { client, close } = pair(async () => {
    throw notFound("namespace x");
  });
  expect(((await client.call("x").catch((e: unknown) => e as Failure)) as Failure).message).toBe(
    "namespace x: not found",
  );
  close();
});

test("a plain call answered with a stream yields an iterable", async () => {
  const { client, close } = pair(() => count(40));
  const it = (await client.call("count")) as AsyncIterable<number>;
  const got: number[] = [];
  for await (const v of it) got.push(v);
  expect(got.length).toBe(40);
  close();
});

test("a MessagePort passed as an argument arrives usable", async () => {
  const { client, close } = pair(async ({ args }) => {
    const p = new PortPeer(args[0] as MessagePort, "inner").serve(async () => "hello from inner");
    return p.name;
  });
  const ch = new MessageChannel();
  expect(await client.call("accept", [ch.port2])).toBe("inner");
  const inner = new PortPeer(ch.port1, "outer");
  expect(await inner.call("x")).toBe("hello from inner");
  ch.port1.close();
  close();
});

test("a shared empty array is not detached by a call", async () => {
  const { client, close } = pair(async ({ args }) => (args[0] as Uint8Array).length);
  const EMPTY = new Uint8Array(0);
  expect(await client.call("len", [EMPTY])).toBe(0);
  expect(await client.call("len", [EMPTY])).toBe(0);
  expect(EMPTY.buffer.detached).toBe(false);
  close();
});

/** A pair whose server side records the kinds of messages it posts. */
function recordedPair(handler: CallHandler) {
  const { port1, port2 } = new MessageChannel();
  const sent: string[] = [];
  const post = port2.postMessage.bind(port2);
  const spy = {
    postMessage(m: { t: string; end?: boolean }, transfer?: Transferable[]) {
      sent.push(m.end ? `${m.t}+end` : m.t);
      if (transfer) post(m, transfer);
      else post(m);
    },
    addEventListener: port2.addEventListener.bind(port2),
  };
  new PortPeer(spy, "server").serve(handler);
  const client = new PortPeer(port1, "client");
  const close = () => {
    port1.close();
    port2.close();
  };
  return { client, sent, close };
}

test("a stream's last item and its end travel in one message, even when the end waits on I/O", async () => {
  const { client, sent, close } = recordedPair(async function* () {
    yield 1;
    yield 2;
    await new Promise((r) => setImmediate(r)); // as a blob read closing its file
  });
  const got: unknown[] = [];
  for await (const v of client.stream("s")) got.push(v);
  expect(got).toEqual([1, 2]);
  expect(sent).toEqual(["stream", "out", "out+end"]);
  close();
});

test("an item goes out before the next exists: a stream that waits for more is not held back", async () => {
  let release!: () => void;
  const more = new Promise<void>((r) => {
    release = r;
  });
  const { client, sent, close } = recordedPair(async function* () {
    yield "first";
    await more;
    yield "second";
  });
  const it = client.stream("s")[Symbol.asyncIterator]();
  expect((await it.next()).value).toBe("first");
  release();
  expect((await it.next()).value).toBe("second");
  expect((await it.next()).done).toBe(true);
  expect(sent).toEqual(["stream", "out", "out+end"]);
  close();
});

test("a stream that fails after its last item delivers the item, then the error", async () => {
  const { client, close } = recordedPair(async function* () {
    yield 1;
    throw notFound("gone meanwhile");
  });
  const got: unknown[] = [];
  const e = await (async () => {
    for await (const v of client.stream("s")) got.push(v);
  })().catch((e: unknown) => e);
  expect(got).toEqual([1]);
  expect((e as Failure).kind).toBe(Kind.NotFound);
  close();
});

test("an empty stream ends with ok", async () => {
  const { client, sent, close } = recordedPair(() => count(0));
  const got: unknown[] = [];
  for await (const v of client.stream("s")) got.push(v);
  expect(got).toEqual([]);
  expect(sent).toEqual(["stream", "ok"]);
  close();
});
