import { expect, test } from "bun:test";
import { create, toBinary } from "@bufbuild/protobuf";
import { type Any, AnySchema, StringValueSchema } from "@bufbuild/protobuf/wkt";
import { type CallContext, Kind } from "@bunkerd/plugin-api";
import { StreamInitSchema } from "@bunkerd/proto/containerd/services/streaming/v1/streaming_pb.ts";
import { packAny, unpackAny } from "./any.ts";
import { StreamManager } from "./manager.ts";
import { streamingService } from "./service.ts";

/** A client's side of the bidi call: messages it sends, and the server's replies. */
function client(manager: StreamManager, namespace = "default") {
  const sent: Any[] = [];
  let wake: (() => void) | undefined;
  let ended = false;
  async function* input() {
    for (;;) {
      const m = sent.shift();
      if (m) {
        yield m;
        continue;
      }
      if (ended) return;
      await new Promise<void>((r) => {
        wake = r;
      });
    }
  }
  const abort = new AbortController();
  const call = { namespace, signal: abort.signal, method: "", protocol: "grpc", metadata: {} } as CallContext;
  const replies = streamingService(manager)
    .stream(input() as AsyncIterable<Any>, call)
    [Symbol.asyncIterator]();
  return {
    send(m: Any) {
      sent.push(m);
      wake?.();
    },
    end() {
      ended = true;
      wake?.();
    },
    next: () => replies.next(),
    abort: () => abort.abort(),
  };
}

const init = (id: string) =>
  create(AnySchema, {
    typeUrl: StreamInitSchema.typeName,
    value: toBinary(StreamInitSchema, create(StreamInitSchema, { id })),
  });
const text = (s: string) => create(AnySchema, { ...packAny(StringValueSchema, { value: s }) });

test("StreamInit registers the stream, answered by an empty message; services find it by id", async () => {
  const manager = new StreamManager();
  const c = client(manager);
  c.send(init("p1"));
  const ack = await c.next();
  expect(ack.value?.typeUrl).toBe("google.protobuf.Empty");
  const s = manager.get("default", "p1");
  // Namespaced: another namespace does not see it.
  expect(() => manager.get("other", "p1")).toThrow(expect.objectContaining({ kind: Kind.NotFound }));
  s.send(packAny(StringValueSchema, { value: "hello" }));
  const got = await c.next();
  expect(unpackAny(got.value, StringValueSchema, "m").value).toBe("hello");
  // The client's messages reach the service.
  c.send(text("from client"));
  const m = await s.recv();
  expect(unpackAny(m, StringValueSchema, "m").value).toBe("from client");
  // A second stream of the same id is refused.
  const dup = client(manager);
  dup.send(init("p1"));
  expect(await dup.next().catch((e) => e.kind)).toBe(Kind.AlreadyExists);
  // Closing ends the client's call (queued messages first) and unregisters the stream.
  s.send(text("last"));
  s.close();
  expect(unpackAny((await c.next()).value, StringValueSchema, "m").value).toBe("last");
  expect((await c.next()).done).toBe(true);
  expect(manager.size).toBe(0);
  c.end();
});

test("the client going away closes the stream; recv ends when the client stops sending", async () => {
  const manager = new StreamManager();
  const c = client(manager);
  c.send(init("p2"));
  await c.next();
  const s = manager.get("default", "p2");
  c.end();
  expect(await s.recv()).toBeUndefined();
  const pending = c.next();
  c.abort();
  expect((await pending).done).toBe(true);
  expect(s.isClosed).toBe(true);
  expect(manager.size).toBe(0);
});

test("a first message that is not a StreamInit is refused", async () => {
  const c = client(new StreamManager());
  c.send(text("hi"));
  expect(await c.next().catch((e) => e.kind)).toBe(Kind.InvalidArgument);
});
