/** The daemon's gRPC server: hand-framed gRPC routing encoded messages to a Router and
 *  mapping errors to gRPC status once, on unix sockets and TCP (TLS, mTLS). This is the
 *  node:http2 transport; ../h2/ exports the same API on our own HTTP/2 over Bun sockets. */
export type {
  CreateGrpcServer,
  GrpcServer,
  GrpcServerOptions,
  TcpListenOptions,
  UnixListenOptions,
} from "./api.ts";
export type { Logger, OnCall, ServiceAwareRouter } from "./call.ts";
export { createNodeGrpcServer, createNodeGrpcServer as createGrpcServer } from "./server.ts";
// For tests and clients of this package's wire format.
export { decodeGrpcMessage, encodeGrpcMessage } from "./status.ts";
