import { describe, expect, test } from "bun:test";
import { Code } from "@bunkerd/plugin-api";
import {
  type DecodedFrame,
  encodeFrame,
  type Frame,
  FrameDecoder,
  HEADER_LENGTH,
  isOversized,
  MAX_MESSAGE_LENGTH,
  MessageType,
} from "./frame.ts";

const bytes = (n: number, seed = 1) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);
const concat = (parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
};
const frames = [
  { streamId: 1, type: MessageType.Request, flags: 0, payload: bytes(5) },
  { streamId: 3, type: MessageType.Response, flags: 0, payload: new Uint8Array(0) },
  { streamId: 0xfffffffd, type: MessageType.Data, flags: 0x5, payload: bytes(70_000, 7) },
  { streamId: 5, type: MessageType.Request, flags: 0, payload: bytes(1) },
];
const wire = concat(frames.map((f) => encodeFrame(f, f.payload)));

describe("encodeFrame", () => {
  test("writes the header big-endian and the payload after it", () => {
    const out = encodeFrame({ streamId: 0x01020304, type: MessageType.Response, flags: 0x04 }, bytes(3));
    expect([...out.subarray(0, HEADER_LENGTH)]).toEqual([0, 0, 0, 3, 1, 2, 3, 4, 2, 4]);
    expect(out.subarray(HEADER_LENGTH)).toEqual(bytes(3));
  });

  test("refuses a payload over the limit with ResourceExhausted", () => {
    expect(() =>
      encodeFrame({ streamId: 1, type: 1, flags: 0 }, new Uint8Array(MAX_MESSAGE_LENGTH + 1)),
    ).toThrow(expect.objectContaining({ code: Code.ResourceExhausted }));
    expect(encodeFrame({ streamId: 1, type: 1, flags: 0 }, new Uint8Array(MAX_MESSAGE_LENGTH)).length).toBe(
      MAX_MESSAGE_LENGTH + HEADER_LENGTH,
    );
  });
});

describe("FrameDecoder", () => {
  test("several frames in one chunk come out in order", () => {
    expect(new FrameDecoder().push(wire)).toEqual(frames);
  });

  test("frames split byte by byte are reassembled", () => {
    const d = new FrameDecoder();
    const out: DecodedFrame[] = [];
    for (let i = 0; i < wire.length; i++) out.push(...d.push(wire.subarray(i, i + 1)));
    expect(out).toEqual(frames);
    expect(d.partial).toBe(false);
  });

  test.each([2, 9, 10, 11, 4096, 65_537])(
    "chunks of %i bytes, cutting headers and payloads anywhere",
    (size) => {
      const d = new FrameDecoder();
      const out: DecodedFrame[] = [];
      for (let i = 0; i < wire.length; i += size) out.push(...d.push(wire.subarray(i, i + size)));
      expect(out).toEqual(frames);
    },
  );

  test("payloads are copies, safe to keep after the chunk is reused", () => {
    const chunk = encodeFrame({ streamId: 1, type: 1, flags: 0 }, bytes(4));
    const [frame] = new FrameDecoder().push(chunk);
    chunk.fill(0);
    expect((frame as Frame).payload).toEqual(bytes(4));
  });

  test("an oversized frame is reported by its header and skipped; the next frame still decodes", () => {
    const d = new FrameDecoder(16);
    const big = encodeFrame({ streamId: 7, type: MessageType.Request, flags: 0 }, bytes(17), 17);
    const next = encodeFrame({ streamId: 9, type: MessageType.Request, flags: 0 }, bytes(16));
    const all = concat([big, next]);
    const out: DecodedFrame[] = [];
    for (let i = 0; i < all.length; i += 5) out.push(...d.push(all.subarray(i, i + 5)));
    expect(out).toEqual([
      { streamId: 7, type: MessageType.Request, flags: 0, oversized: 17 },
      { streamId: 9, type: MessageType.Request, flags: 0, payload: bytes(16) },
    ]);
    expect(isOversized(out[0]!)).toBe(true);
  });

  test("a declared length over 4 MiB is refused before any payload arrives", () => {
    const header = new Uint8Array(HEADER_LENGTH);
    new DataView(header.buffer).setUint32(0, MAX_MESSAGE_LENGTH + 1);
    new DataView(header.buffer).setUint32(4, 11);
    header[8] = MessageType.Request;
    const d = new FrameDecoder();
    expect(d.push(header)).toEqual([{ streamId: 11, type: 1, flags: 0, oversized: MAX_MESSAGE_LENGTH + 1 }]);
    expect(d.partial).toBe(true);
  });
});
