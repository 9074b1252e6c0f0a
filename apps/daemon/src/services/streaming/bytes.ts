/** Bytes over a Streaming stream, with containerd 1.7's flow control (pkg/transfer/streaming):
 *  the reader grants a window (`WindowUpdate`, 64 KiB at a time), the writer sends `Data`
 *  messages of at most 32 KiB and never more than it was granted. An import tar arrives this
 *  way and an export tar leaves this way, so neither side buffers more than a window. */
import { fromBinary } from "@bufbuild/protobuf";
import { invalidArgument, unavailable } from "@bunkerd/plugin-api";
import { DataSchema, WindowUpdateSchema } from "@bunkerd/proto/containerd/types/transfer/streaming_pb.ts";
import { packAny, typeNameOf } from "./any.ts";
import type { Stream } from "./manager.ts";

/** Largest Data message (containerd's maxRead). */
export const MAX_DATA = 32 * 1024;
/** Window granted at a time (containerd's windowSize). */
export const WINDOW = 2 * MAX_DATA;

/** The client's bytes, as they come; a window is granted only when the consumer asks for more,
 *  so a slow consumer slows the client. Ends when the client closes its side. A client that
 *  sends past its window is refused. */
export async function* receiveBytes(stream: Stream): AsyncGenerator<Uint8Array> {
  let window = 0;
  for (;;) {
    if (window < WINDOW) {
      stream.send(packAny(WindowUpdateSchema, { update: WINDOW }));
      window += WINDOW;
    }
    const m = await stream.recv();
    if (!m) return;
    if (typeNameOf(m.typeUrl) !== DataSchema.typeName) continue;
    const { data } = fromBinary(DataSchema, m.value);
    window -= data.length;
    if (window < 0) throw invalidArgument(`stream ${stream.id}: client sent past its window`);
    if (data.length > 0) yield data;
  }
}

/** Writes bytes to the client as its window allows. */
export class ByteSender {
  private remaining = 0;
  private wake: (() => void) | undefined;
  private ended = false;

  constructor(private readonly stream: Stream) {
    void this.readWindows();
  }

  private async readWindows(): Promise<void> {
    for (;;) {
      const m = await this.stream.recv().catch(() => undefined);
      if (!m) break;
      if (typeNameOf(m.typeUrl) !== WindowUpdateSchema.typeName) continue;
      this.remaining += fromBinary(WindowUpdateSchema, m.value).update;
      this.wake?.();
    }
    this.ended = true;
    this.wake?.();
  }

  /** Sends all of `bytes`, waiting for window as needed. */
  async write(bytes: Uint8Array, signal?: AbortSignal): Promise<void> {
    let rest = bytes;
    while (rest.length > 0) {
      while (this.remaining <= 0) {
        signal?.throwIfAborted();
        if (this.ended || this.stream.isClosed)
          throw unavailable(`stream ${this.stream.id}: closed by the client before the end`);
        await new Promise<void>((r) => {
          this.wake = r;
          signal?.addEventListener("abort", () => r(), { once: true });
        });
        this.wake = undefined;
      }
      const n = Math.min(rest.length, MAX_DATA, this.remaining);
      this.stream.send(packAny(DataSchema, { data: rest.slice(0, n) }));
      this.remaining -= n;
      rest = rest.subarray(n);
    }
  }

  /** Ends the stream: the client sees the end of the bytes. */
  close(): void {
    this.stream.close();
  }
}
