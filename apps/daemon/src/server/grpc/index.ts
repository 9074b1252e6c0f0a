/** The daemon's gRPC server: hand-framed gRPC over node:http2 on unix sockets and TCP
 *  (TLS, mTLS), routing encoded messages to a Router and mapping errors to gRPC status once. */
export type { Logger, OnCall, ServiceAwareRouter } from "./call.ts";
export {
  createGrpcServer,
  type GrpcServer,
  type GrpcServerOptions,
  type TcpListenOptions,
  type UnixListenOptions,
} from "./server.ts";
// For tests and clients of this package's wire format.
export { decodeGrpcMessage, encodeGrpcMessage } from "./status.ts";
