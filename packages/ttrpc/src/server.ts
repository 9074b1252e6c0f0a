/** ttrpc server on unix sockets. Each request frame becomes one `dispatch` call; many run at
 *  once per connection and each answer goes out as soon as its call settles, in any order.
 *  Routing, unknown methods included, is the dispatcher's job (NotImplemented → code 12). */

import { lstat, chmod, stat, unlink } from "node:fs/promises";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { alreadyExists, Code } from "@bunkerd/plugin-api";
import { StatusSchema } from "@bunkerd/proto/google/rpc/status_pb.ts";
import { type Request, RequestSchema, ResponseSchema } from "@bunkerd/proto/ttrpc/request_pb.ts";
import type { Socket, UnixSocketListener } from "bun";
import {
  type DecodedFrame,
  encodeFrame,
  FrameDecoder,
  isOversized,
  MAX_MESSAGE_LENGTH,
  MessageType,
  oversizedError,
} from "./frame.ts";
import { canceledError, deadlineError, serverClosedError, statusOf, type WireStatus } from "./status.ts";
import { SocketWriter } from "./writer.ts";

/** What the server hands the dispatcher with each call. */
export interface TtrpcCallContext {
  /** Request metadata, keys lower-cased, values in the order sent. */
  metadata: Record<string, string[]>;
  /** Absolute deadline in ms since the epoch, from the request's timeout_nano. */
  deadline?: number;
  /** Aborts when the deadline passes, the client goes away, or the server is forced to stop. */
  signal: AbortSignal;
}

/** Resolves with the encoded response message; throws to answer with an error status. */
export type TtrpcDispatch = (
  service: string,
  method: string,
  payload: Uint8Array,
  ctx: TtrpcCallContext,
) => Promise<Uint8Array>;

export interface TtrpcServerOptions {
  dispatch: TtrpcDispatch;
  /** Largest frame payload accepted or sent; containerd's 4 MiB by default. */
  maxMessageSize?: number;
  /** How long `close()` waits for calls in flight before cutting connections (default 5 s). */
  closeTimeoutMs?: number;
}

export interface TtrpcListenOptions {
  /** File mode for the socket, applied right after it is bound (e.g. 0o660). */
  mode?: number;
}

export interface TtrpcServer {
  /** Binds a unix socket at `path`. A stale socket file nobody listens on is replaced. */
  listen(path: string, options?: TtrpcListenOptions): Promise<void>;
  /** Stops accepting, lets calls in flight finish (bounded), closes every connection and
   *  removes the socket files. Safe to call more than once. */
  close(options?: { timeoutMs?: number }): Promise<void>;
  /** Open connections, for tests and metrics. */
  readonly connectionCount: number;
}

type ConnSocket = Socket<ServerConn | undefined>;

/** How long a closing connection may take to hand its last answers to the kernel. */
const FLUSH_TIMEOUT_MS = 1000;
const MAX_TIMER_MS = 0x7fffffff;

export function createTtrpcServer(options: TtrpcServerOptions): TtrpcServer {
  return new Server(options);
}

class Server implements TtrpcServer {
  readonly dispatch: TtrpcDispatch;
  readonly maxMessageSize: number;
  private readonly closeTimeoutMs: number;
  private readonly listeners = new Map<
    string,
    { listener: UnixSocketListener<ServerConn | undefined>; ino: number }
  >();
  private readonly connections = new Set<ServerConn>();
  private connectionsGone: (() => void) | undefined;
  closing = false;
  private closed: Promise<void> | undefined;

  constructor(options: TtrpcServerOptions) {
    this.dispatch = options.dispatch;
    this.maxMessageSize = options.maxMessageSize ?? MAX_MESSAGE_LENGTH;
    this.closeTimeoutMs = options.closeTimeoutMs ?? 5000;
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  async listen(path: string, options: TtrpcListenOptions = {}): Promise<void> {
    if (this.closing) throw serverClosedError();
    if (this.listeners.has(path)) throw alreadyExists(`ttrpc: listen ${path}`);
    await removeStaleSocket(path);
    const listener = Bun.listen<ServerConn | undefined>({
      unix: path,
      data: undefined,
      socket: {
        binaryType: "uint8array",
        open: (socket) => {
          if (this.closing) {
            socket.end();
            return;
          }
          const conn = new ServerConn(this, socket);
          socket.data = conn;
          this.connections.add(conn);
        },
        data: (socket, chunk) => socket.data?.receive(chunk),
        drain: (socket) => socket.data?.writer.flush(),
        close: (socket) => this.forget(socket),
        error: (socket) => {
          socket.end();
        },
      },
    });
    try {
      if (options.mode !== undefined) await chmod(path, options.mode);
      this.listeners.set(path, { listener, ino: (await stat(path)).ino });
    } catch (e) {
      listener.stop(true);
      throw e;
    }
  }

  close(options: { timeoutMs?: number } = {}): Promise<void> {
    this.closed ??= this.shutdown(options.timeoutMs ?? this.closeTimeoutMs);
    return this.closed;
  }

  private async shutdown(timeoutMs: number): Promise<void> {
    this.closing = true;
    for (const { listener } of this.listeners.values()) listener.stop(false);
    // Idle connections go now; busy ones end themselves when their last call is answered.
    for (const conn of this.connections) conn.endIfIdle();
    await this.waitForConnections(timeoutMs);
    for (const conn of this.connections) conn.abort();
    await this.waitForConnections(FLUSH_TIMEOUT_MS);
    for (const conn of this.connections) conn.terminate();
    await Promise.all([...this.listeners].map(([path, { ino }]) => removeOwnSocket(path, ino)));
    this.listeners.clear();
  }

  private waitForConnections(timeoutMs: number): Promise<void> {
    if (this.connections.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.connectionsGone = undefined;
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      this.connectionsGone = done;
    });
  }

  private forget(socket: ConnSocket): void {
    const conn = socket.data;
    if (!conn) return;
    conn.closed();
    this.connections.delete(conn);
    if (this.connections.size === 0) this.connectionsGone?.();
  }
}

interface InFlight {
  readonly abort: AbortController;
  answered: boolean;
  timer?: ReturnType<typeof setTimeout>;
}

/** One accepted connection: its decoder, its write queue and the calls it has in flight. */
class ServerConn {
  readonly writer: SocketWriter;
  private readonly decoder: FrameDecoder;
  private readonly calls = new Map<number, InFlight>();
  private lastStreamId = 0;
  private ending = false;
  private gone = false;

  constructor(
    private readonly server: Server,
    private readonly socket: ConnSocket,
  ) {
    this.writer = new SocketWriter(socket);
    this.decoder = new FrameDecoder(server.maxMessageSize);
  }

  receive(chunk: Uint8Array): void {
    for (const frame of this.decoder.push(chunk)) this.handle(frame);
  }

  private handle(frame: DecodedFrame): void {
    const id = frame.streamId;
    if (isOversized(frame)) {
      if (frame.type === MessageType.Request) {
        this.answer(id, statusOf(oversizedError(frame.oversized, this.server.maxMessageSize)));
      }
      return;
    }
    if (frame.type === MessageType.Data) {
      // No streams are opened here, so no data frame can belong to one (Go answers the same).
      this.answer(id, { code: Code.InvalidArgument, message: "StreamID is no longer active" });
      return;
    }
    // Anything else that is not a request is ignored, for compatibility with later versions.
    if (frame.type !== MessageType.Request) return;
    if (id % 2 !== 1) {
      this.answer(id, {
        code: Code.InvalidArgument,
        message: "StreamID must be odd for client initiated streams",
      });
      return;
    }
    if (id <= this.lastStreamId) {
      this.answer(id, {
        code: Code.InvalidArgument,
        message: "StreamID cannot be re-used and must increment",
      });
      return;
    }
    this.lastStreamId = id;
    if (frame.flags !== 0) {
      this.answer(id, { code: Code.Unimplemented, message: "ttrpc: streaming calls are not supported" });
      return;
    }
    let request: Request;
    try {
      request = fromBinary(RequestSchema, frame.payload);
    } catch (e) {
      this.answer(id, {
        code: Code.InvalidArgument,
        message: `unmarshal request error: ${statusOf(e).message}`,
      });
      return;
    }
    if (this.server.closing) {
      this.answer(id, statusOf(serverClosedError()));
      return;
    }
    this.start(id, request);
  }

  private start(id: number, request: Request): void {
    const call: InFlight = { abort: new AbortController(), answered: false };
    const metadata: Record<string, string[]> = Object.create(null);
    for (const { key, value } of request.metadata) {
      const k = key.toLowerCase();
      const values = metadata[k];
      if (values) values.push(value);
      else metadata[k] = [value];
    }
    let deadline: number | undefined;
    if (request.timeoutNano !== 0n) {
      const ms = Math.max(0, Number(request.timeoutNano) / 1e6);
      deadline = Date.now() + ms;
      // Timers cap at ~24.8 days (a longer delay fires at once): a deadline that far is no deadline.
      if (ms <= MAX_TIMER_MS) {
        call.timer = setTimeout(() => {
          // The client stops waiting at its deadline too: answer now, and tell the handler.
          this.settle(id, call, statusOf(deadlineError()));
          call.abort.abort(deadlineError());
        }, ms);
      }
    }
    this.calls.set(id, call);
    const ctx: TtrpcCallContext = { metadata, deadline, signal: call.abort.signal };
    let result: Promise<Uint8Array>;
    try {
      result = Promise.resolve(this.server.dispatch(request.service, request.method, request.payload, ctx));
    } catch (e) {
      result = Promise.reject(e);
    }
    result.then(
      (payload) => this.settle(id, call, { code: Code.OK, message: "" }, payload),
      (e) => this.settle(id, call, statusOf(e)),
    );
    // The call counts as in flight until the handler returns, even when already answered.
    result
      .catch(() => {})
      .finally(() => {
        clearTimeout(call.timer);
        this.calls.delete(id);
        if (this.server.closing) this.endIfIdle();
      });
  }

  private settle(id: number, call: InFlight, status: WireStatus, payload?: Uint8Array): void {
    if (call.answered || this.gone) return;
    call.answered = true;
    this.answer(id, status, payload);
  }

  private answer(id: number, status: WireStatus, payload?: Uint8Array): void {
    if (this.gone) return;
    let frame: Uint8Array;
    try {
      frame = encodeFrame(
        { streamId: id, type: MessageType.Response, flags: 0 },
        encodeResponse(status, payload),
        this.server.maxMessageSize,
      );
    } catch (e) {
      // An answer too large to send becomes an error the client can read.
      frame = encodeFrame(
        { streamId: id, type: MessageType.Response, flags: 0 },
        encodeResponse(statusOf(e)),
        this.server.maxMessageSize,
      );
    }
    this.writer.write(frame);
  }

  /** While the server closes: end the connection once nothing is left to answer or send. */
  endIfIdle(): void {
    if (this.ending || this.gone || this.calls.size > 0) return;
    this.ending = true;
    const flushed = this.writer.flushed();
    const timeout = new Promise<void>((r) => setTimeout(r, FLUSH_TIMEOUT_MS).unref());
    Promise.race([flushed, timeout]).then(() => {
      if (!this.gone) this.socket.end();
    });
  }

  /** The close timeout passed: stop every handler and end the connection. */
  abort(): void {
    for (const call of this.calls.values()) call.abort.abort(serverClosedError());
    this.calls.clear();
    this.endIfIdle();
  }

  terminate(): void {
    if (!this.gone) this.socket.terminate();
  }

  /** The socket is gone: handlers still running learn it from their signal. */
  closed(): void {
    this.gone = true;
    this.writer.close();
    for (const call of this.calls.values()) {
      clearTimeout(call.timer);
      call.abort.abort(canceledError());
    }
  }
}

function encodeResponse(status: WireStatus, payload?: Uint8Array): Uint8Array {
  // The status is always present, OK included: older Go clients fail a response without one.
  return toBinary(
    ResponseSchema,
    create(ResponseSchema, {
      status: create(StatusSchema, { code: status.code, message: status.message }),
      payload: payload ?? new Uint8Array(0),
    }),
  );
}

/** A socket file left by a process that died is replaced; one somebody still serves is not. */
async function removeStaleSocket(path: string): Promise<void> {
  const info = await lstat(path).catch(() => undefined);
  if (!info) return;
  if (!info.isSocket()) throw alreadyExists(`ttrpc: listen ${path}: not a socket`);
  const live = await Bun.connect({ unix: path, socket: { data() {} } }).then(
    (s) => {
      s.end();
      return true;
    },
    () => false,
  );
  if (live) throw alreadyExists(`ttrpc: listen ${path}: address in use`);
  await unlink(path).catch(() => {});
}

/** Removes the socket file only if it is still the one this server bound. */
async function removeOwnSocket(path: string, ino: number): Promise<void> {
  const info = await lstat(path).catch(() => undefined);
  if (info?.isSocket() && info.ino === ino) await unlink(path).catch(() => {});
}
