/** A unix-socket proxy between a gRPC client (the Go ctr) and a daemon that records every call:
 *  its method (from the client's HEADERS, HPACK-decoded with bunkerd's own decoder), when the
 *  client opened it, when the server ended it (END_STREAM), and the DATA bytes each way. Bytes
 *  are forwarded untouched; frames are only read. For the `pull` scenario's `--trace`: the
 *  timeline of one pull against each daemon, to see which calls the time goes to. */
import { rmSync } from "node:fs";
import type { Socket } from "bun";
import { HpackDecoder } from "../../apps/daemon/src/server/h2/hpack/decoder.ts";

export interface TracedCall {
  stream: number;
  /** Connection number, in accept order. */
  conn: number;
  method: string;
  /** ms since the proxy started. */
  start: number;
  end?: number;
  bytesIn: number;
  bytesOut: number;
}

const PREFACE = 24; // "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
const DATA = 0;
const HEADERS = 1;
const CONTINUATION = 9;
const END_STREAM = 0x1;
const END_HEADERS = 0x4;
const PADDED = 0x8;
const PRIORITY = 0x20;

/** Reads frames from one direction of a connection as bytes arrive. */
class FrameReader {
  private buf = new Uint8Array(0);
  private skip: number;
  constructor(
    preface: number,
    private readonly onFrame: (type: number, flags: number, stream: number, payload: Uint8Array) => void,
  ) {
    this.skip = preface;
  }
  push(chunk: Uint8Array): void {
    const next = new Uint8Array(this.buf.length + chunk.length);
    next.set(this.buf);
    next.set(chunk, this.buf.length);
    this.buf = next;
    if (this.skip) {
      if (this.buf.length < this.skip) return;
      this.buf = this.buf.subarray(this.skip);
      this.skip = 0;
    }
    while (this.buf.length >= 9) {
      const len = (this.buf[0]! << 16) | (this.buf[1]! << 8) | this.buf[2]!;
      if (this.buf.length < 9 + len) return;
      const type = this.buf[3]!;
      const flags = this.buf[4]!;
      const stream =
        ((this.buf[5]! & 0x7f) << 24) | (this.buf[6]! << 16) | (this.buf[7]! << 8) | this.buf[8]!;
      this.onFrame(type, flags, stream, this.buf.subarray(9, 9 + len));
      this.buf = this.buf.subarray(9 + len);
    }
  }
}

/** A socket's writes, queued: Bun's socket.write takes what it can and drops the rest. */
class Out {
  private queue: Uint8Array[] = [];
  constructor(private sock?: Socket<unknown>) {}
  attach(sock: Socket<unknown>) {
    this.sock = sock;
    this.flush();
  }
  write(b: Uint8Array) {
    this.queue.push(b);
    this.flush();
  }
  flush() {
    if (!this.sock) return;
    while (this.queue.length) {
      const head = this.queue[0]!;
      const n = this.sock.write(head);
      if (n < head.length) {
        this.queue[0] = head.subarray(Math.max(0, n));
        return;
      }
      this.queue.shift();
    }
  }
}

export interface Tracer {
  path: string;
  calls: TracedCall[];
  stop(): void;
}

export function startTracer(path: string, upstream: string): Tracer {
  rmSync(path, { force: true });
  const t0 = performance.now();
  const calls: TracedCall[] = [];
  let conns = 0;
  type State = { toServer: Out; toClient: Out; server?: Socket<unknown>; up: FrameReader; down: FrameReader };
  const listener = Bun.listen<State>({
    unix: path,
    socket: {
      open(client) {
        const conn = ++conns;
        const open = new Map<number, TracedCall>();
        const hpack = new HpackDecoder();
        let block: { stream: number; parts: Uint8Array[]; endStream: boolean } | undefined;
        const headersDone = (stream: number, parts: Uint8Array[]) => {
          const fields = hpack.decode(Buffer.concat(parts));
          const i = fields.indexOf(":path");
          if (!open.has(stream)) {
            const call: TracedCall = {
              stream,
              conn,
              method: i >= 0 ? fields[i + 1]! : "?",
              start: performance.now() - t0,
              bytesIn: 0,
              bytesOut: 0,
            };
            open.set(stream, call);
            calls.push(call);
          }
        };
        const state: State = {
          toServer: new Out(),
          toClient: new Out(client),
          up: new FrameReader(PREFACE, (type, flags, stream, payload) => {
            if (type === HEADERS) {
              let p = payload;
              let pad = 0;
              if (flags & PADDED) {
                pad = p[0]!;
                p = p.subarray(1);
              }
              if (flags & PRIORITY) p = p.subarray(5);
              p = p.subarray(0, p.length - pad);
              block = { stream, parts: [p], endStream: (flags & END_STREAM) !== 0 };
              if (flags & END_HEADERS) {
                headersDone(stream, block.parts);
                block = undefined;
              }
            } else if (type === CONTINUATION && block) {
              block.parts.push(payload);
              if (flags & END_HEADERS) {
                headersDone(block.stream, block.parts);
                block = undefined;
              }
            } else if (type === DATA) {
              const c = open.get(stream);
              if (c) c.bytesIn += payload.length;
            }
          }),
          down: new FrameReader(0, (type, flags, stream, payload) => {
            const c = open.get(stream);
            if (!c) return;
            if (type === DATA) c.bytesOut += payload.length;
            if ((type === HEADERS || type === DATA) && flags & END_STREAM) {
              c.end = performance.now() - t0;
              open.delete(stream);
            }
          }),
        };
        client.data = state;
        Bun.connect<State>({
          unix: upstream,
          socket: {
            open(server) {
              server.data = state;
              state.server = server;
              state.toServer.attach(server);
            },
            data(_server, chunk) {
              state.down.push(chunk);
              state.toClient.write(new Uint8Array(chunk));
            },
            drain() {
              state.toServer.flush();
            },
            close() {
              client.end();
            },
            error() {
              client.end();
            },
          },
        }).catch(() => client.end());
      },
      data(client, chunk) {
        client.data.up.push(chunk);
        client.data.toServer.write(new Uint8Array(chunk));
      },
      drain(client) {
        client.data.toClient.flush();
      },
      close(client) {
        client.data?.server?.end();
      },
      error(client) {
        client.data?.server?.end();
      },
    },
  });
  return {
    path,
    calls,
    stop() {
      listener.stop(true);
      rmSync(path, { force: true });
    },
  };
}

/** Per method: calls, summed and longest duration, bytes; busiest first. */
export function summarizeCalls(calls: TracedCall[]) {
  const by = new Map<
    string,
    { n: number; totalMs: number; maxMs: number; bytesIn: number; bytesOut: number }
  >();
  for (const c of calls) {
    const m = by.get(c.method) ?? { n: 0, totalMs: 0, maxMs: 0, bytesIn: 0, bytesOut: 0 };
    const d = (c.end ?? c.start) - c.start;
    m.n++;
    m.totalMs += d;
    m.maxMs = Math.max(m.maxMs, d);
    m.bytesIn += c.bytesIn;
    m.bytesOut += c.bytesOut;
    by.set(c.method, m);
  }
  return [...by.entries()].sort((a, b) => b[1].totalMs - a[1].totalMs);
}
