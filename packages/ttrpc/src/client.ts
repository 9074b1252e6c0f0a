/** ttrpc client over a unix socket: unary calls, many in flight on one connection, matched to
 *  their answers by stream id (odd, increasing: 1, 3, 5…). When the connection drops, every
 *  pending call fails with Unavailable at once. */

import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Code, fromStatus } from "@bunkerd/plugin-api";
import { RequestSchema, type Response, ResponseSchema } from "@bunkerd/proto/ttrpc/request_pb.ts";
import type { Socket } from "bun";
import {
  type DecodedFrame,
  encodeFrame,
  FrameDecoder,
  isOversized,
  MAX_MESSAGE_LENGTH,
  MessageType,
  oversizedError,
} from "./frame.ts";
import { canceledError, closedError, deadlineError, errorOf } from "./status.ts";
import { SocketWriter } from "./writer.ts";

export interface TtrpcCallOptions {
  /** Sent as the request's metadata; keys are lower-cased, as Go's ttrpc.MD does. */
  metadata?: Record<string, string | string[]>;
  /** Sent as timeout_nano; the call also fails locally with DeadlineExceeded when it passes. */
  timeoutMs?: number;
  /** Aborting fails the call with Canceled (ttrpc has no cancel frame: the server is not told). */
  signal?: AbortSignal;
}

export interface TtrpcConnectOptions {
  /** Largest frame payload sent or accepted; containerd's 4 MiB by default. */
  maxMessageSize?: number;
}

interface Pending {
  resolve(payload: Uint8Array): void;
  reject(error: Error): void;
  timer?: ReturnType<typeof setTimeout>;
  signal?: AbortSignal;
  onAbort?: () => void;
}

const MAX_STREAM_ID = 0xffffffff;
const MAX_TIMER_MS = 0x7fffffff;

export class TtrpcClient {
  private socket: Socket<TtrpcClient> | undefined;
  private writer: SocketWriter | undefined;
  private readonly decoder: FrameDecoder;
  private readonly pending = new Map<number, Pending>();
  private nextStreamId = 1;
  private isOpen = true;
  private markClosed!: () => void;
  /** Resolves when the connection is gone, whoever closed it. */
  readonly closed: Promise<void>;

  private constructor(
    readonly path: string,
    private readonly maxMessageSize: number,
  ) {
    this.decoder = new FrameDecoder(maxMessageSize);
    this.closed = new Promise((resolve) => {
      this.markClosed = resolve;
    });
  }

  /** Connects to a ttrpc server; fails with Unavailable when nobody listens at `path`. */
  static async connect(path: string, options: TtrpcConnectOptions = {}): Promise<TtrpcClient> {
    const client = new TtrpcClient(path, options.maxMessageSize ?? MAX_MESSAGE_LENGTH);
    try {
      await Bun.connect<TtrpcClient>({
        unix: path,
        data: client,
        socket: {
          binaryType: "uint8array",
          open: (socket) => socket.data.attach(socket),
          data: (socket, chunk) => socket.data.receive(chunk),
          drain: (socket) => socket.data.writer?.flush(),
          close: (socket) => socket.data.lost(),
          error: (socket) => {
            socket.end();
          },
          connectError: () => {},
        },
      });
    } catch (e) {
      const reason = e instanceof Error ? e.message : String(e);
      throw fromStatus(Code.Unavailable, `ttrpc: dial unix ${path}: ${reason}`);
    }
    return client;
  }

  /** Whether calls can still be made. */
  get open(): boolean {
    return this.isOpen;
  }

  /** One unary call: resolves with the response payload, or rejects with an error carrying
   *  the server's `.code` and message. */
  call(
    service: string,
    method: string,
    payload: Uint8Array,
    options: TtrpcCallOptions = {},
  ): Promise<Uint8Array> {
    if (!this.isOpen) return Promise.reject(closedError());
    const { signal, timeoutMs } = options;
    if (signal?.aborted) return Promise.reject(canceledError());
    if (timeoutMs !== undefined && timeoutMs <= 0) return Promise.reject(deadlineError());
    if (this.nextStreamId > MAX_STREAM_ID) {
      return Promise.reject(fromStatus(Code.ResourceExhausted, "ttrpc: stream ids exhausted"));
    }
    const metadata: { key: string; value: string }[] = [];
    for (const [key, values] of Object.entries(options.metadata ?? {})) {
      for (const value of Array.isArray(values) ? values : [values])
        metadata.push({ key: key.toLowerCase(), value });
    }
    const request = create(RequestSchema, {
      service,
      method,
      payload,
      metadata,
      timeoutNano: timeoutMs === undefined ? 0n : BigInt(Math.ceil(timeoutMs * 1e6)),
    });
    const streamId = this.nextStreamId;
    let frame: Uint8Array;
    try {
      frame = encodeFrame(
        { streamId, type: MessageType.Request, flags: 0 },
        toBinary(RequestSchema, request),
        this.maxMessageSize,
      );
    } catch (e) {
      return Promise.reject(e);
    }
    this.nextStreamId += 2;
    return new Promise<Uint8Array>((resolve, reject) => {
      const call: Pending = { resolve, reject };
      // Timers cap at ~24.8 days (a longer delay fires at once); the server still gets timeout_nano.
      if (timeoutMs !== undefined && timeoutMs <= MAX_TIMER_MS) {
        call.timer = setTimeout(() => this.fail(streamId, deadlineError()), timeoutMs);
      }
      if (signal) {
        call.signal = signal;
        call.onAbort = () => this.fail(streamId, canceledError());
        signal.addEventListener("abort", call.onAbort, { once: true });
      }
      this.pending.set(streamId, call);
      this.writer!.write(frame);
    });
  }

  /** Closes the connection; pending calls fail with Unavailable. */
  close(): void {
    if (!this.isOpen) return;
    const socket = this.socket;
    this.lost();
    socket?.end();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  private attach(socket: Socket<TtrpcClient>): void {
    this.socket = socket;
    this.writer = new SocketWriter(socket);
  }

  private receive(chunk: Uint8Array): void {
    for (const frame of this.decoder.push(chunk)) this.handle(frame);
  }

  private handle(frame: DecodedFrame): void {
    if (!this.pending.has(frame.streamId)) return; // answered late, after a timeout or cancel
    if (isOversized(frame)) {
      this.fail(frame.streamId, oversizedError(frame.oversized, this.maxMessageSize));
      return;
    }
    if (frame.type !== MessageType.Response) {
      this.fail(
        frame.streamId,
        fromStatus(Code.Unknown, `unexpected message type ${frame.type}: protocol error`),
      );
      return;
    }
    let response: Response;
    try {
      response = fromBinary(ResponseSchema, frame.payload);
    } catch (e) {
      const reason = e instanceof Error ? e.message : String(e);
      this.fail(frame.streamId, fromStatus(Code.Internal, `ttrpc: bad response: ${reason}`));
      return;
    }
    const status = response.status;
    if (status && status.code !== Code.OK) {
      this.fail(frame.streamId, errorOf(status));
      return;
    }
    const call = this.take(frame.streamId);
    call?.resolve(response.payload);
  }

  private fail(streamId: number, error: Error): void {
    this.take(streamId)?.reject(error);
  }

  private take(streamId: number): Pending | undefined {
    const call = this.pending.get(streamId);
    if (!call) return undefined;
    this.pending.delete(streamId);
    clearTimeout(call.timer);
    if (call.onAbort) call.signal?.removeEventListener("abort", call.onAbort);
    return call;
  }

  /** The connection is gone: every pending call fails now, none waits for a timeout. */
  private lost(): void {
    if (!this.isOpen) return;
    this.isOpen = false;
    this.writer?.close();
    const calls = [...this.pending.keys()];
    for (const id of calls) this.fail(id, closedError());
    this.markClosed();
  }
}
