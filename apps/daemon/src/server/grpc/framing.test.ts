import { expect, test } from "bun:test";
import { type BunkerError, Code } from "@bunkerd/plugin-api";
import { frame, MessageReader } from "./framing.ts";

const read = (reader: MessageReader, ...chunks: Uint8Array[]) => {
  const out: string[] = [];
  const sink = { message: (m: Uint8Array) => out.push(Buffer.from(m).toString()) };
  for (const c of chunks) reader.push(Buffer.from(c), sink);
  return out;
};

test("frame: flag 0, big-endian length, then the message", () => {
  expect([...frame(Buffer.from("abc"))]).toEqual([0, 0, 0, 0, 3, 97, 98, 99]);
  expect([...frame(new Uint8Array())]).toEqual([0, 0, 0, 0, 0]);
});

test("reader: messages split anywhere, several per chunk, empty ones", () => {
  const all = Buffer.concat([frame(Buffer.from("hello")), frame(new Uint8Array()), frame(Buffer.from("w"))]);
  for (let cut = 0; cut <= all.length; cut++) {
    const r = new MessageReader(100, undefined);
    expect(read(r, all.subarray(0, cut), all.subarray(cut))).toEqual(["hello", "", "w"]);
    expect(r.partial).toBe(false);
  }
  const r = new MessageReader(100, undefined);
  expect(read(r, ...[...all].map((b) => Uint8Array.of(b)))).toEqual(["hello", "", "w"]);
  expect(read(r, frame(Buffer.from("abc")).subarray(0, 6))).toEqual([]);
  expect(r.partial).toBe(true);
});

const statusOf = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    return [(e as BunkerError).code, (e as BunkerError).message];
  }
  return undefined;
};

test("reader: oversize refused from the prefix; compressed refused per grpc-encoding", () => {
  expect(statusOf(() => read(new MessageReader(4, undefined), Uint8Array.of(0, 0, 0, 0, 5)))).toEqual([
    Code.ResourceExhausted,
    "grpc: received message larger than max (5 vs. 4)",
  ]);
  const gz = Uint8Array.of(1, 0, 0, 0, 0);
  expect(statusOf(() => read(new MessageReader(4, "gzip"), gz))?.[0]).toBe(Code.Unimplemented);
  expect(statusOf(() => read(new MessageReader(4, undefined), gz))?.[0]).toBe(Code.Internal);
  expect(statusOf(() => read(new MessageReader(4, "identity"), gz))?.[0]).toBe(Code.Internal);
  expect(statusOf(() => read(new MessageReader(4, undefined), Uint8Array.of(2, 0, 0, 0, 0)))?.[0]).toBe(
    Code.Internal,
  );
});
