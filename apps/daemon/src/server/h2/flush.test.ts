/** When the connection writes: a reply with no other call in flight goes to the socket as soon
 *  as the code that made it is done (no loop iteration in between, which costs most after the
 *  thread slept); with calls in flight, replies wait for the turn to end and leave together. */
import { expect, test } from "bun:test";
import { H2Connection, type Socket } from "./connection.ts";
import { FRAME_HEADER, Flag, FrameType, PREFACE, readUint32, writeFrameHeader } from "./frame.ts";
import { HpackEncoder } from "./hpack/index.ts";
import type { H2Stream } from "./stream.ts";

const settle = () => new Promise((r) => setTimeout(r, 5));
const quiet = { debug() {}, info() {}, warn() {}, error() {} };

function frame(type: number, flags: number, id: number, payload: Uint8Array): Buffer {
  const b = Buffer.alloc(FRAME_HEADER + payload.length);
  writeFrameHeader(b, 0, payload.length, type, flags, id);
  b.set(payload, FRAME_HEADER);
  return b;
}

/** A connection on a socket that records each write as the list of (type, stream) it holds. */
async function connection(onStream: (s: H2Stream) => void) {
  const writes: string[][] = [];
  const socket: Socket = {
    write(data) {
      const frames: string[] = [];
      for (let at = 0; at + FRAME_HEADER <= data.length; ) {
        const length = (data[at]! << 16) | (data[at + 1]! << 8) | data[at + 2]!;
        frames.push(`${data[at + 3]}:${readUint32(data, at + 5) & 0x7fffffff}`);
        at += FRAME_HEADER + length;
      }
      writes.push(frames);
      return data.length;
    },
    end() {},
    pause() {},
    resume() {},
  };
  const conn = new H2Connection(socket, { onStream, log: quiet });
  conn.start();
  conn.receive(Buffer.concat([PREFACE, frame(FrameType.Settings, 0, 0, new Uint8Array())]));
  await settle(); // our SETTINGS and the ack of the client's
  writes.length = 0;
  const encoder = new HpackEncoder();
  /** A whole unary request (HEADERS, then DATA with END_STREAM) on stream `id`. */
  const request = (id: number) =>
    Buffer.concat([
      frame(
        FrameType.Headers,
        Flag.EndHeaders,
        id,
        encoder.encodeFields([
          [":method", "POST"],
          [":scheme", "http"],
          [":path", "/t.S/M"],
          [":authority", "x"],
          ["content-type", "application/grpc"],
        ]),
      ),
      frame(FrameType.Data, Flag.EndStream, id, new Uint8Array([0, 0, 0, 0, 1, 7])),
    ]);
  return { conn, writes, request };
}

const reply = (s: H2Stream) => {
  s.respond();
  s.writeMessage(new Uint8Array([1, 2, 3]));
  s.end({ "grpc-status": "0" });
};
const H = `${FrameType.Headers}`;
const D = `${FrameType.Data}`;

test("a lone call's reply is written before the loop turns, in one write", async () => {
  const { conn, writes, request } = await connection((s) =>
    s.listen({ data() {}, end: () => reply(s), closed() {} }),
  );
  let turned = false;
  setImmediate(() => {
    turned = true;
  });
  conn.receive(request(1));
  await Promise.resolve();
  expect(turned).toBe(false);
  expect(writes).toEqual([[`${H}:1`, `${D}:1`, `${H}:1`]]);
});

test("with another call in flight, replies wait for the turn's end and share one write", async () => {
  const streams: H2Stream[] = [];
  const { conn, writes, request } = await connection((s) => {
    streams.push(s);
    s.listen({ data() {}, end() {}, closed() {} });
  });
  conn.receive(Buffer.concat([request(1), request(3)]));
  await settle();
  writes.length = 0; // the connection window update for the request bodies, if any
  reply(streams[0]!);
  await Promise.resolve();
  expect(writes).toEqual([]); // stream 3 still waits: batch with what follows in this turn
  reply(streams[1]!);
  await settle();
  expect(writes).toEqual([[`${H}:1`, `${D}:1`, `${H}:1`, `${H}:3`, `${D}:3`, `${H}:3`]]);
});
