import { expect, test } from "bun:test";
import { SocketWriter, type WritableSocket } from "./writer.ts";

/** A socket that takes at most `room` bytes until the test makes more room, like a full kernel buffer. */
function tightSocket(room: number) {
  const received: number[] = [];
  const socket: WritableSocket & { room: number } = {
    room,
    write(data) {
      const n = Math.min(this.room, data.length);
      received.push(...data.subarray(0, n));
      this.room -= n;
      return n;
    },
  };
  return { socket, received };
}

test("what the socket does not take is kept, in order, and sent on drain", async () => {
  const { socket, received } = tightSocket(3);
  const w = new SocketWriter(socket);
  w.write(Uint8Array.of(1, 2, 3, 4, 5));
  w.write(Uint8Array.of(6, 7));
  expect(received).toEqual([1, 2, 3]);
  expect(w.pending).toBe(4);
  const flushed = w.flushed();
  socket.room = 2;
  w.flush();
  expect(received).toEqual([1, 2, 3, 4, 5]);
  socket.room = 100;
  w.flush();
  expect(received).toEqual([1, 2, 3, 4, 5, 6, 7]);
  expect(w.pending).toBe(0);
  await flushed;
});

test("new data waits behind queued data, even when the socket has room again", () => {
  const { socket, received } = tightSocket(1);
  const w = new SocketWriter(socket);
  w.write(Uint8Array.of(1, 2));
  socket.room = 10;
  w.write(Uint8Array.of(3));
  expect(received).toEqual([1]);
  w.flush();
  expect(received).toEqual([1, 2, 3]);
});

test("a closed socket (write returns -1): close() drops the queue and releases waiters", async () => {
  const w = new SocketWriter({ write: () => -1 });
  w.write(Uint8Array.of(1));
  expect(w.pending).toBe(1);
  const flushed = w.flushed();
  w.close();
  await flushed;
  expect(w.pending).toBe(0);
  w.write(Uint8Array.of(2));
  expect(w.pending).toBe(0);
});

test("a long queue that drains slowly stays compact", () => {
  const { socket, received } = tightSocket(0);
  const w = new SocketWriter(socket);
  for (let i = 0; i < 5000; i++) w.write(Uint8Array.of(i & 0xff));
  for (let i = 0; i < 5000; i++) {
    socket.room = 1;
    w.flush();
  }
  expect(received.length).toBe(5000);
  expect(received.slice(0, 3)).toEqual([0, 1, 2]);
  expect(w.pending).toBe(0);
});
