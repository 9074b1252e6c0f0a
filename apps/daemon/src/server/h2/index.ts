/** The daemon's gRPC server on our own HTTP/2 over `Bun.listen` sockets: the same API as
 *  ../grpc (node:http2) and the same calls (../grpc/call.ts, through the ServerStream of
 *  ../grpc/transport.ts), at several times the calls per second, because every frame a
 *  connection produces in one event-loop turn leaves in one socket write.
 *
 *  Here: HPACK (hpack/), frames and flow control (connection.ts), request streams
 *  (stream.ts), listeners with TLS and mTLS (server.ts).
 *
 *  Where it differs from grpc-go's server, on purpose or not yet:
 *  - Windows are fixed (1 MiB per stream, 16 MiB per connection), not sized by a BDP
 *    estimator; we answer the client's BDP PINGs but send none ourselves, nor keepalives.
 *  - No keepalive enforcement (grpc-go's "too_many_pings" GOAWAY), no idle or age limits.
 *  - Graceful close is one GOAWAY naming the last stream, not grpc-go's two-step GOAWAY +
 *    PING; streams that raced it are refused with REFUSED_STREAM (safe to retry).
 *  - The peer's SETTINGS_MAX_HEADER_LIST_SIZE is not checked against our trailers.
 *  - Message compression stays unsupported (Unimplemented), as on the node:http2 transport.
 *  - `:authority` is not checked, so a Go client that dials a raw path works (Bun's and
 *    Node's http2 refuse it, BUN-NOTES). */
export type {
  CreateGrpcServer,
  GrpcServer,
  GrpcServerOptions,
  TcpListenOptions,
  UnixListenOptions,
} from "../grpc/api.ts";
export { createGrpcServer } from "./server.ts";
