/** A raw HTTP/2 client for tests that check frames themselves: it sends exactly the frames
 *  a test writes (or breaks) and hands back every frame the server sends, decoding header
 *  blocks with its own HPACK decoder. Not part of the package surface. */
import type { Socket } from "bun";
import { FRAME_HEADER, Flag, FrameType, PREFACE, readUint32, writeFrameHeader } from "./frame.ts";
import { HpackDecoder, HpackEncoder } from "./hpack/index.ts";

export interface Frame {
  type: number;
  flags: number;
  stream: number;
  payload: Buffer;
}

export class RawClient {
  private buffer = Buffer.alloc(0);
  private frames: Frame[] = [];
  private waiter: (() => void) | undefined;
  private queued: Uint8Array[] = [];
  private drainWaiters: (() => void)[] = [];
  closed = false;
  readonly encoder = new HpackEncoder({ indexing: true, huffman: true });
  readonly decoder = new HpackDecoder();

  private constructor(private socket: Socket<undefined> | undefined) {}

  static async connect(path: string, options: { preface?: boolean } = {}): Promise<RawClient> {
    const client = new RawClient(undefined);
    client.socket = await Bun.connect({
      unix: path,
      socket: {
        data: (_s, chunk) => client.onData(chunk),
        drain: () => client.onDrain(),
        close: () => {
          client.closed = true;
          client.wake();
          for (const w of client.drainWaiters.splice(0)) w();
        },
        error: () => {},
      },
    });
    if (options.preface ?? true) {
      client.write(PREFACE);
      client.settings([]);
    }
    return client;
  }

  /** Writes now what the socket takes; the rest goes out on drain, in order. */
  write(data: Uint8Array): void {
    if (this.closed) return;
    if (this.queued.length === 0) {
      const n = Math.max(0, this.socket!.write(data));
      if (n === data.length) return;
      data = data.subarray(n);
    }
    this.queued.push(data);
  }

  /** Resolves when everything written has gone to the socket. */
  async flushed(): Promise<void> {
    while (this.queued.length > 0 && !this.closed) await new Promise<void>((r) => this.drainWaiters.push(r));
  }

  private onDrain(): void {
    while (this.queued.length > 0) {
      const chunk = this.queued[0]!;
      const n = Math.max(0, this.socket!.write(chunk));
      if (n < chunk.length) {
        this.queued[0] = chunk.subarray(n);
        return;
      }
      this.queued.shift();
    }
    for (const w of this.drainWaiters.splice(0)) w();
  }

  frame(type: number, flags: number, stream: number, payload: Uint8Array = new Uint8Array()): void {
    const out = Buffer.alloc(FRAME_HEADER + payload.length);
    writeFrameHeader(out, 0, payload.length, type, flags, stream);
    out.set(payload, FRAME_HEADER);
    this.write(out);
  }

  settings(values: [id: number, value: number][]): void {
    const p = Buffer.alloc(6 * values.length);
    values.forEach(([id, v], i) => {
      p.writeUInt16BE(id, 6 * i);
      p.writeUInt32BE(v, 6 * i + 2);
    });
    this.frame(FrameType.Settings, 0, 0, p);
  }

  windowUpdate(stream: number, increment: number): void {
    const p = Buffer.alloc(4);
    p.writeUInt32BE(increment);
    this.frame(FrameType.WindowUpdate, 0, stream, p);
  }

  /** A gRPC request's HEADERS (END_HEADERS; END_STREAM when `end`). */
  request(stream: number, path: string, extra: [string, string][] = [], end = false): void {
    const block = this.encoder.encode([
      [":method", "POST"],
      [":scheme", "http"],
      [":path", path],
      [":authority", "localhost"],
      ["content-type", "application/grpc"],
      ["te", "trailers"],
      ...extra,
    ]);
    this.frame(FrameType.Headers, Flag.EndHeaders | (end ? Flag.EndStream : 0), stream, block);
  }

  /** One gRPC message as DATA frames of at most `maxFrame` bytes. */
  message(stream: number, message: Uint8Array, end = true, maxFrame = 16384): void {
    const framed = Buffer.alloc(5 + message.length);
    framed.writeUInt32BE(message.length, 1);
    framed.set(message, 5);
    for (let at = 0; ; at += maxFrame) {
      const last = at + maxFrame >= framed.length;
      this.frame(
        FrameType.Data,
        last && end ? Flag.EndStream : 0,
        stream,
        framed.subarray(at, at + maxFrame),
      );
      if (last) return;
    }
  }

  /** The next frame from the server (skipping none); undefined if the connection closed. */
  async next(timeoutMs = 5000): Promise<Frame | undefined> {
    const deadline = Date.now() + timeoutMs;
    while (this.frames.length === 0) {
      if (this.closed) return undefined;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error("no frame from the server in time");
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    return this.frames.shift();
  }

  /** Frames until one matches (the ones before it are returned too). */
  async until(match: (f: Frame) => boolean, timeoutMs = 5000): Promise<Frame[]> {
    const seen: Frame[] = [];
    for (;;) {
      const f = await this.next(timeoutMs);
      if (!f) throw new Error(`connection closed; frames seen: ${seen.map(describe).join(", ")}`);
      seen.push(f);
      if (match(f)) return seen;
    }
  }

  /** The header fields of a HEADERS frame, decoded in order (it must end the block). */
  headers(f: Frame): Record<string, string> {
    return Object.fromEntries(pairs(this.decoder.decode(headerFragment(f))));
  }

  close(): void {
    this.socket?.end();
  }

  private onData(chunk: Buffer): void {
    this.buffer = Buffer.concat([this.buffer, chunk]);
    while (this.buffer.length >= FRAME_HEADER) {
      const length = this.buffer.readUIntBE(0, 3);
      if (this.buffer.length < FRAME_HEADER + length) break;
      this.frames.push({
        type: this.buffer[3]!,
        flags: this.buffer[4]!,
        stream: readUint32(this.buffer, 5) & 0x7fffffff,
        payload: Buffer.from(this.buffer.subarray(FRAME_HEADER, FRAME_HEADER + length)),
      });
      this.buffer = this.buffer.subarray(FRAME_HEADER + length);
    }
    this.wake();
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }
}

function headerFragment(f: Frame): Buffer {
  let start = 0;
  let end = f.payload.length;
  if (f.flags & Flag.Padded) {
    end -= f.payload[0]!;
    start = 1;
  }
  if (f.flags & Flag.Priority) start += 5;
  return f.payload.subarray(start, end);
}

function pairs(flat: string[]): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i < flat.length; i += 2) out.push([flat[i]!, flat[i + 1]!]);
  return out;
}

const typeNames = Object.fromEntries(Object.entries(FrameType).map(([k, v]) => [v, k]));

export function describe(f: Frame): string {
  return `${typeNames[f.type] ?? f.type}(s${f.stream},f${f.flags},${f.payload.length}b)`;
}

/** GOAWAY's last stream id, error code and debug text. */
export function goawayOf(f: Frame): { lastStream: number; code: number; debug: string } {
  return {
    lastStream: readUint32(f.payload, 0) & 0x7fffffff,
    code: readUint32(f.payload, 4),
    debug: f.payload.subarray(8).toString(),
  };
}
