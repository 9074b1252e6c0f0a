/** What the gRPC call layer needs from an HTTP/2 stream, so the same calls run over
 *  node:http2 (node-stream.ts) and over our own HTTP/2 server on Bun sockets (../h2/).
 *
 *  The request arrives as pushed events (headers first, then body chunks, then the end);
 *  the reply goes out as response headers, gRPC messages with backpressure, and trailers. */

/** Request headers as HTTP/2 delivers them: lower-case names, a repeated one as an array. */
export type RequestHeaders = Readonly<Record<string, string | string[] | undefined>>;

/** Trailer fields (`grpc-status`, `grpc-message`), already wire-encoded. */
export type Trailers = Readonly<Record<string, string>>;

/** Receives one stream's request body. */
export interface StreamListener {
  /** A chunk of the request body, in order. It may hold part of a message, or several. */
  data(chunk: Uint8Array): void;
  /** The client finished sending (END_STREAM). */
  end(): void;
  /** The stream is gone: reset by the client, or its connection closed. May also come after
   *  the call ended normally; the listener ignores it then. */
  closed(): void;
}

export interface ServerStream {
  readonly headers: RequestHeaders;
  /** Starts delivering the request body. Until then (and without a listener) the body is
   *  dropped, with flow-control credit still returned to the client. */
  listen(listener: StreamListener): void;
  /** Stops granting the client flow-control window, so a slow handler makes it wait. */
  pause(): void;
  resume(): void;
  /** Sends the response headers: `:status 200`, `content-type: application/grpc`. */
  respond(): void;
  /** Sends one gRPC message (the transport adds the 5-byte prefix). The transport may hold
   *  `message` until it is sent: the caller must not change it afterwards. False: buffered
   *  past the stream's high-water mark; wait for `drained()` before the next. */
  writeMessage(message: Uint8Array): boolean;
  /** Resolves when the stream can take more, or when it is gone. */
  drained(): Promise<void>;
  /** Ends the response with trailers, after `respond()`. */
  end(trailers: Trailers): void;
  /** Trailers-only response: the status in the headers, and the stream ends. */
  endWithStatus(httpStatus: number, trailers: Trailers): void;
  /** The call is over: read and drop whatever body the client still sends. */
  discard(): void;
  /** False once the stream was reset or its connection closed. */
  readonly open: boolean;
}
