/** gRPC's length-prefixed message framing: one flag byte (bit 0 = compressed), a 4-byte
 *  big-endian length, then the message. The reader splits a request body arriving in
 *  arbitrary HTTP/2 DATA chunks into messages, refusing oversize and compressed ones before
 *  buffering them. */
import { Code, fromStatus } from "@bunkerd/plugin-api";

const PREFIX = 5;
const empty = Buffer.alloc(0);

/** One message with its 5-byte prefix, ready for `stream.write`. */
export function frame(message: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(PREFIX + message.length);
  out[0] = 0;
  out.writeUInt32BE(message.length, 1);
  out.set(message, PREFIX);
  return out;
}

/** The big-endian length in a message prefix at `at`. */
export function readLength(b: Uint8Array, at = 0): number {
  return ((b[at + 1]! << 24) | (b[at + 2]! << 16) | (b[at + 3]! << 8) | b[at + 4]!) >>> 0;
}

/** Receives the messages a reader completes. */
export interface MessageSink {
  message(message: Uint8Array): void;
}

export class MessageReader {
  private chunks: Uint8Array[] = [];
  private buffered = 0;
  /** Length of the message being read, or -1 while waiting for a prefix. */
  private need = -1;

  constructor(
    private readonly maxSize: number,
    /** The request's grpc-encoding header, if any. */
    private readonly encoding: string | undefined,
  ) {}

  /** True when a message was started but END_STREAM came before its last byte. */
  get partial(): boolean {
    return this.buffered > 0 || this.need >= 0;
  }

  /** Feeds one DATA chunk; hands every complete message to `sink`. Throws a status error. */
  push(chunk: Uint8Array, sink: MessageSink): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    for (;;) {
      if (this.need < 0) {
        if (this.buffered < PREFIX) return;
        const prefix = this.take(PREFIX);
        this.checkFlag(prefix[0]!);
        const length = readLength(prefix);
        if (length > this.maxSize) {
          // grpc-go's wording, which containerd clients print.
          throw fromStatus(
            Code.ResourceExhausted,
            `grpc: received message larger than max (${length} vs. ${this.maxSize})`,
          );
        }
        this.need = length;
      }
      if (this.buffered < this.need) return;
      const message = this.take(this.need);
      this.need = -1;
      sink.message(message);
    }
  }

  private checkFlag(flag: number): void {
    if (flag === 0) return;
    if (flag !== 1) throw fromStatus(Code.Internal, `grpc: received unexpected payload format ${flag}`);
    if (this.encoding === undefined || this.encoding === "identity") {
      throw fromStatus(Code.Internal, "grpc: compressed flag set with identity or empty encoding");
    }
    throw fromStatus(
      Code.Unimplemented,
      `grpc: compression not supported: grpc-encoding ${JSON.stringify(this.encoding)}`,
    );
  }

  /** Removes n buffered bytes; copies only when they span chunks. */
  private take(n: number): Uint8Array {
    if (n === 0) return empty;
    this.buffered -= n;
    const first = this.chunks[0]!;
    if (first.length === n) {
      this.chunks.shift();
      return first;
    }
    if (first.length > n) {
      this.chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const chunk = this.chunks[0]!;
      const part = Math.min(chunk.length, n - filled);
      out.set(part === chunk.length ? chunk : chunk.subarray(0, part), filled);
      filled += part;
      if (part === chunk.length) this.chunks.shift();
      else this.chunks[0] = chunk.subarray(part);
    }
    return out;
  }
}
