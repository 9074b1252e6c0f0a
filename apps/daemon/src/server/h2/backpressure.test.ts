/** The connection's output against a socket that stops taking bytes, without a real socket:
 *  what it does not take waits in order, reading pauses while too much waits, and all of it
 *  goes out, in order, once the socket drains. */
import { expect, test } from "bun:test";
import { quietLog } from "../grpc/test-support.ts";
import { H2Connection, type Socket } from "./connection.ts";
import { Flag, FRAME_HEADER, FrameType, PREFACE, writeFrameHeader } from "./frame.ts";

class StuckSocket implements Socket {
  written: Buffer[] = [];
  /** Bytes the socket still takes before it is full. */
  room = Number.POSITIVE_INFINITY;
  paused = false;
  ended = false;
  write(data: Uint8Array): number {
    const n = Math.min(this.room, data.length);
    this.room -= n;
    if (n > 0) this.written.push(Buffer.from(data.subarray(0, n)));
    return n;
  }
  end(): void {
    this.ended = true;
  }
  pause(): void {
    this.paused = true;
  }
  resume(): void {
    this.paused = false;
  }
}

const frame = (type: number, flags: number, stream: number, payload: Uint8Array) => {
  const out = Buffer.alloc(FRAME_HEADER + payload.length);
  writeFrameHeader(out, 0, payload.length, type, flags, stream);
  out.set(payload, FRAME_HEADER);
  return out;
};
const turn = () => new Promise((r) => setImmediate(r));

test("a client that does not read: reading pauses, output waits in order, then all goes out", async () => {
  const socket = new StuckSocket();
  const conn = new H2Connection(socket, { onStream: () => {}, log: quietLog });
  conn.start();
  conn.receive(Buffer.concat([PREFACE, frame(FrameType.Settings, 0, 0, new Uint8Array())]));
  await turn();
  const before = Buffer.concat(socket.written).length; // SETTINGS, WINDOW_UPDATE, SETTINGS ack
  socket.room = 1000;
  // 100,000 PINGs: 1.7 MB of acks to write, more than the backlog may hold.
  const pings = Buffer.concat(
    Array.from({ length: 100_000 }, (_, i) => {
      const p = Buffer.alloc(8);
      p.writeUInt32BE(i, 4);
      return frame(FrameType.Ping, 0, 0, p);
    }),
  );
  conn.receive(pings);
  await turn();
  expect(socket.paused).toBe(true);
  socket.room = Number.POSITIVE_INFINITY;
  conn.drain();
  expect(socket.paused).toBe(false);
  const out = Buffer.concat(socket.written).subarray(before);
  expect(out.length).toBe(100_000 * 17);
  for (let i = 0; i < 100_000; i += 997) {
    const at = i * 17;
    expect([out[at + 3], out[at + 4], out.readUInt32BE(at + 13)]).toEqual([FrameType.Ping, Flag.Ack, i]);
  }
});
