/** One gRPC call on one HTTP/2 stream: route it, build its CallContext, feed the handler
 *  encoded request messages, write back framed replies and end with a status.
 *
 *  The daemon never decodes protobuf here: bytes go to the Router and bytes come back. The
 *  stream is a ServerStream (transport.ts): node:http2 or our own HTTP/2 server alike.
 *  A call ends exactly once (`finished`), whichever comes first: the handler's result, its
 *  error, our own refusal (oversize, malformed), the deadline, or the client going away. */
import {
  BunkerError,
  type CallContext,
  Code,
  fromStatus,
  Kind,
  type MethodKind,
  type Route,
  type Router,
} from "@bunkerd/plugin-api";
import { MessageReader, readLength } from "./framing.ts";
import {
  headerValue,
  LeaseHeader,
  metadataOf,
  NamespaceHeader,
  parseTimeout,
  requireNamespace,
} from "./metadata.ts";
import { RequestStream } from "./request-stream.ts";
import { encodeGrpcMessage, type Status, statusOf } from "./status.ts";
import type { RequestHeaders, ServerStream, StreamListener, Trailers } from "./transport.ts";

/** The server's logger: console and consola both fit. */
export interface Logger {
  debug(message: string, ...args: unknown[]): void;
  info(message: string, ...args: unknown[]): void;
  warn(message: string, ...args: unknown[]): void;
  error(message: string, ...args: unknown[]): void;
}

/** Called once per routed call when it ends (not for unknown methods: their names are
 *  client-chosen and would make unbounded metric labels). */
export type OnCall = (method: string, code: Code, seconds: number, kind: MethodKind) => void;

/** A Router may say which services it has, so unknown methods get grpc-go's exact wording. */
export type ServiceAwareRouter = Router & { hasService?(service: string): boolean };

/** A call in flight, as the server sees it while shutting down. */
export interface InflightCall {
  /** Ends the call now with Unavailable; its handler's signal aborts. */
  shutdown(): void;
}

export interface CallEnv {
  readonly router: ServiceAwareRouter;
  readonly maxRecvMessageSize: number;
  readonly maxSendMessageSize: number;
  readonly onCall?: OnCall;
  readonly log: Logger;
  /** Calls in flight, so close() can wait for them and then cut them. */
  readonly inflight: Set<InflightCall>;
}

const grpcContentType = "application/grpc";

/** Handles one incoming stream; never throws. */
export function serveStream(env: CallEnv, stream: ServerStream): void {
  const headers = stream.headers;
  if (headers[":method"] !== "POST") {
    refuse(stream, 405, Code.Internal, `grpc: invalid :method ${JSON.stringify(headers[":method"])}`);
    return;
  }
  const contentType = headerValue(headers, "content-type");
  if (!isGrpcContentType(contentType)) {
    const why = `invalid gRPC request content-type ${JSON.stringify(contentType ?? "")}`;
    refuse(stream, 415, Code.InvalidArgument, why);
    return;
  }
  const path = headerValue(headers, ":path") ?? "";
  const route = env.router.lookup(path);
  if (!route) {
    refuse(stream, 200, Code.Unimplemented, unknownMethodMessage(env.router, path));
    return;
  }
  new Call(env, stream, route).start();
}

function isGrpcContentType(v: string | undefined): boolean {
  if (v === undefined || !v.startsWith(grpcContentType)) return false;
  const next = v.charCodeAt(grpcContentType.length);
  return Number.isNaN(next) || next === 0x2b /* + */ || next === 0x3b /* ; */;
}

// grpc-go's wording (server.go handleStream), which Go clients print as is.
function unknownMethodMessage(router: ServiceAwareRouter, path: string): string {
  const slash = path.lastIndexOf("/");
  if (!path.startsWith("/") || slash <= 0) return `malformed method name: ${JSON.stringify(path)}`;
  const service = path.slice(1, slash);
  const method = path.slice(slash + 1);
  return router.hasService?.(service)
    ? `unknown method ${method} for service ${service}`
    : `unknown service ${service}`;
}

/** A status before any message: "trailers-only", status in the response headers. */
function refuse(stream: ServerStream, httpStatus: number, code: Code, message: string): void {
  try {
    stream.endWithStatus(httpStatus, trailersOf(code, message));
  } catch {
    // The stream is already gone; nothing to tell.
  }
  stream.discard(); // drop whatever body the client still sends
}

function trailersOf(code: Code, message: string): Trailers {
  if (!message) return statusOnly[code] ?? { "grpc-status": String(code) };
  return { "grpc-status": String(code), "grpc-message": encodeGrpcMessage(message) };
}

// One frozen object per code, so a transport can cache its encoding.
const statusOnly: Trailers[] = Array.from({ length: 17 }, (_, c) =>
  Object.freeze({ "grpc-status": String(c) }),
);
const okTrailers = statusOnly[Code.OK]!;
const maxTimerMs = 2 ** 31 - 1;

function isPromiseLike(v: unknown): v is PromiseLike<unknown> {
  return v != null && typeof (v as PromiseLike<unknown>).then === "function";
}

function isAsyncIterable(v: unknown): v is AsyncIterable<Uint8Array> {
  return typeof v === "object" && v !== null && Symbol.asyncIterator in v;
}

class Call implements InflightCall, StreamListener {
  private readonly started: number;
  private readonly streamingInput: boolean;
  private readonly headers: RequestHeaders;
  /** Made on first use of ctx.signal: most unary handlers never look. */
  private controller: AbortController | undefined;
  private stopReason: BunkerError | undefined;
  /** Made only when a message spans DATA frames (or several share one). */
  private reader: MessageReader | undefined;
  private ctx!: CallContext;
  private finished = false;
  private headersSent = false;
  private timer: ReturnType<typeof setTimeout> | undefined;
  /** unary / server streaming: the request message, collected until END_STREAM. */
  private request: Uint8Array | undefined;
  private requestCount = 0;
  /** client / bidi streaming. */
  private requests: RequestStream | undefined;
  private replies: AsyncIterator<Uint8Array> | undefined;

  constructor(
    private readonly env: CallEnv,
    private readonly stream: ServerStream,
    private readonly route: Route,
  ) {
    this.started = env.onCall ? performance.now() : 0;
    this.streamingInput = route.kind === "client_streaming" || route.kind === "bidi_streaming";
    this.headers = stream.headers;
  }

  start(): void {
    this.env.inflight.add(this);
    this.stream.listen(this);
    const headers = this.headers;
    let deadline: number | undefined;
    let namespace = headerValue(headers, NamespaceHeader);
    try {
      const timeout = headerValue(headers, "grpc-timeout");
      if (timeout !== undefined) {
        const ms = parseTimeout(timeout);
        deadline = Date.now() + ms;
        // Timers past 2^31-1 ms fire at once; a deadline weeks away is no deadline.
        if (ms <= maxTimerMs) this.timer = setTimeout(() => this.onDeadline(), ms);
      }
      if (this.route.namespaced) namespace = requireNamespace(namespace);
    } catch (e) {
      this.fail(e);
      return;
    }
    const call = this;
    let metadata: Record<string, string[]> | undefined;
    // Own enumerable getters, so a spread copy (as the host makes to cross a worker port)
    // still carries metadata.
    this.ctx = {
      method: this.route.path,
      protocol: "grpc",
      namespace: namespace || undefined,
      lease: headerValue(headers, LeaseHeader) || undefined,
      deadline,
      get metadata() {
        metadata ??= metadataOf(headers);
        return metadata;
      },
      get signal() {
        return call.signal();
      },
    };
    if (this.streamingInput) {
      this.requests = new RequestStream(this.stream);
      this.dispatch(this.requests);
    }
  }

  private signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.stopReason) this.controller.abort(this.stopReason);
    }
    return this.controller.signal;
  }

  /** StreamListener: a chunk of the request body. */
  data(chunk: Uint8Array): void {
    if (this.finished) return; // a refused or finished call drops the rest of the body
    // The common case: one whole uncompressed message in one DATA frame.
    if (!this.reader?.partial && chunk.length >= 5 && chunk[0] === 0) {
      const length = readLength(chunk);
      if (length + 5 === chunk.length && length <= this.env.maxRecvMessageSize) {
        this.message(chunk.subarray(5));
        return;
      }
    }
    this.reader ??= new MessageReader(
      this.env.maxRecvMessageSize,
      headerValue(this.headers, "grpc-encoding"),
    );
    try {
      this.reader.push(chunk, this);
    } catch (e) {
      this.fail(e);
    }
  }

  /** MessageSink: one request message. */
  message(message: Uint8Array): void {
    if (this.requests) {
      this.requests.push(message);
    } else {
      this.request = message;
      this.requestCount++;
    }
  }

  /** StreamListener: the client's END_STREAM. */
  end(): void {
    if (this.finished) return;
    if (this.reader?.partial) {
      this.fail(fromStatus(Code.Internal, "grpc: request ended inside a message"));
      return;
    }
    if (this.requests) {
      this.requests.end();
      return;
    }
    if (this.requestCount !== 1) {
      const what = this.requestCount === 0 ? "no request message" : "more than one request message";
      this.fail(fromStatus(Code.Internal, `grpc: ${what} for ${this.route.kind} method ${this.route.path}`));
      return;
    }
    const request = this.request!;
    this.request = undefined;
    this.dispatch(request);
  }

  private dispatch(input: Uint8Array | AsyncIterable<Uint8Array>): void {
    let result: Promise<Uint8Array> | AsyncIterable<Uint8Array>;
    try {
      result = this.route.invoke(input, this.ctx);
    } catch (e) {
      this.fail(e);
      return;
    }
    if (isPromiseLike(result)) result.then(this.onResult, this.onFailure);
    else this.onResult(result);
  }

  private readonly onResult = (result: unknown): void => {
    if (this.finished) {
      if (isAsyncIterable(result)) closeQuietly(result[Symbol.asyncIterator]());
      return;
    }
    if (result instanceof Uint8Array) this.replyOnce(result);
    else if (isAsyncIterable(result)) void this.pump(result[Symbol.asyncIterator]());
    else this.fail(fromStatus(Code.Internal, `${this.route.path}: handler returned no message`));
  };

  private readonly onFailure = (e: unknown): void => this.fail(e);

  /** Unary and client streaming: headers, the one message and trailers in one go. */
  private replyOnce(message: Uint8Array): void {
    if (message.length > this.env.maxSendMessageSize) {
      this.fail(this.sendTooLarge(message.length));
      return;
    }
    this.finished = true;
    if (this.timer) clearTimeout(this.timer);
    const s = this.stream;
    try {
      s.respond();
      s.writeMessage(message);
      s.end(okTrailers);
    } catch (e) {
      this.env.log.debug("grpc: writing reply failed", e);
    }
    this.afterFinish(Code.OK);
  }

  /** Server and bidi streaming: each reply as it comes, waiting for HTTP/2 flow control. */
  private async pump(replies: AsyncIterator<Uint8Array>): Promise<void> {
    this.replies = replies;
    try {
      for (;;) {
        const r = await replies.next();
        if (this.finished) return;
        if (r.done) break;
        await this.write(r.value);
        if (this.finished) return;
      }
      this.finish({ code: Code.OK, message: "" });
    } catch (e) {
      this.fail(e);
    }
  }

  private async write(message: Uint8Array): Promise<void> {
    if (message.length > this.env.maxSendMessageSize) throw this.sendTooLarge(message.length);
    const s = this.stream;
    if (!this.headersSent) {
      this.headersSent = true;
      s.respond();
    }
    if (!s.writeMessage(message)) await s.drained();
  }

  private sendTooLarge(size: number): BunkerError {
    return fromStatus(
      Code.ResourceExhausted,
      `grpc: trying to send message larger than max (${size} vs. ${this.env.maxSendMessageSize})`,
    );
  }

  private fail(e: unknown): void {
    this.finish(statusOf(e));
  }

  private finish(status: Status): void {
    if (this.finished) return;
    this.finished = true;
    if (this.timer) clearTimeout(this.timer);
    const s = this.stream;
    if (s.open) {
      try {
        const trailers = trailersOf(status.code, status.message);
        if (this.headersSent) s.end(trailers);
        else s.endWithStatus(200, trailers);
      } catch (e) {
        this.env.log.debug("grpc: ending call failed", e);
      }
    }
    if (status.code !== Code.OK) this.stopHandler(fromStatus(status.code, status.message));
    this.afterFinish(status.code);
  }

  shutdown(): void {
    this.finish({ code: Code.Unavailable, message: "server is shutting down" });
  }

  private onDeadline(): void {
    this.timer = undefined;
    this.finish({ code: Code.DeadlineExceeded, message: "context deadline exceeded" });
  }

  /** StreamListener: the stream closed. Normal after finish, a cancellation before it
   *  (RST_STREAM from the client, or its connection went away). */
  closed(): void {
    if (this.finished) return;
    this.finished = true;
    if (this.timer) clearTimeout(this.timer);
    this.stopHandler(new BunkerError(Kind.Canceled, "context canceled"));
    this.report(Code.Canceled);
  }

  /** Tells the handler the call is over: its signal aborts, its request stream throws, and
   *  its reply stream is closed. */
  private stopHandler(reason: BunkerError): void {
    this.stopReason = reason;
    if (this.controller && !this.controller.signal.aborted) this.controller.abort(reason);
    this.requests?.fail(reason);
    if (this.replies) closeQuietly(this.replies);
  }

  private afterFinish(code: Code): void {
    // The client may still be sending (we refused early): keep reading and drop it, so flow
    // control never stalls the connection.
    this.stream.discard();
    this.report(code);
  }

  private report(code: Code): void {
    this.env.inflight.delete(this);
    const onCall = this.env.onCall;
    if (onCall === undefined) return;
    try {
      onCall(this.route.path, code, (performance.now() - this.started) / 1000, this.route.kind);
    } catch (e) {
      this.env.log.warn("grpc: onCall hook failed", e);
    }
  }
}

function closeQuietly(it: AsyncIterator<unknown>): void {
  try {
    const r = it.return?.();
    if (r instanceof Promise) r.catch(() => {});
  } catch {
    // A handler's cleanup error has nowhere to go once the call is over.
  }
}
