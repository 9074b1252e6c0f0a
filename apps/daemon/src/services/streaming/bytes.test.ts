import { expect, test } from "bun:test";
import { fromBinary } from "@bufbuild/protobuf";
import { DataSchema, WindowUpdateSchema } from "@bunkerd/proto/containerd/types/transfer/streaming_pb.ts";
import { packAny } from "./any.ts";
import { ByteSender, MAX_DATA, receiveBytes, WINDOW } from "./bytes.ts";
import { ManagedStream } from "./manager.ts";

const windows = async (s: ManagedStream) => {
  const got: number[] = [];
  const out = s.outgoing(AbortSignal.timeout(50));
  for await (const m of out) got.push(fromBinary(WindowUpdateSchema, m.value).update);
  return got;
};

test("receiveBytes grants a window only as the consumer reads, and ends with the client", async () => {
  const s = new ManagedStream("in");
  const it = receiveBytes(s);
  const first = it.next();
  // One window granted before anything arrives.
  s.deliver(packAny(DataSchema, { data: new Uint8Array(MAX_DATA).fill(1) }));
  expect((await first).value?.length).toBe(MAX_DATA);
  s.deliver(packAny(DataSchema, { data: new Uint8Array(10) }));
  expect((await it.next()).value?.length).toBe(10);
  s.endInput();
  expect((await it.next()).done).toBe(true);
  s.close();
  expect(await windows(s)).toEqual([WINDOW, WINDOW]);
});

test("a client sending past its window is refused", async () => {
  const s = new ManagedStream("flood");
  const it = receiveBytes(s);
  s.deliver(packAny(DataSchema, { data: new Uint8Array(MAX_DATA) }));
  await it.next();
  // Granted so far: two windows, of which 32 KiB used; this is more than the rest.
  s.deliver(packAny(DataSchema, { data: new Uint8Array(2 * WINDOW) }));
  expect(it.next()).rejects.toThrow("client sent past its window");
});

test("ByteSender sends at most 32 KiB per message and never past the window", async () => {
  const s = new ManagedStream("out");
  const sender = new ByteSender(s);
  const bytes = new Uint8Array(100_000).map((_, i) => i % 251);
  const writing = sender.write(bytes);
  const got: Uint8Array[] = [];
  const out = s.outgoing(new AbortController().signal);
  s.deliver(packAny(WindowUpdateSchema, { update: 40_000 }));
  for (const want of [32 * 1024, 40_000 - 32 * 1024]) {
    const m = (await out.next()).value!;
    got.push(fromBinary(DataSchema, m.value).data);
    expect(got.at(-1)!.length).toBe(want);
  }
  // Nothing more until the window grows.
  const pending = out.next();
  expect(await Promise.race([pending.then(() => "sent"), Bun.sleep(30).then(() => "waiting")])).toBe(
    "waiting",
  );
  s.deliver(packAny(WindowUpdateSchema, { update: 1 << 20 }));
  got.push(fromBinary(DataSchema, (await pending).value!.value).data);
  await writing;
  sender.close();
  for await (const m of out) got.push(fromBinary(DataSchema, m.value).data);
  expect(Buffer.concat(got)).toEqual(Buffer.from(bytes));
});

test("ByteSender fails when the client goes away before the end", async () => {
  const s = new ManagedStream("gone");
  const sender = new ByteSender(s);
  const writing = sender.write(new Uint8Array(10));
  s.endInput();
  expect(writing).rejects.toThrow("closed by the client before the end");
});
