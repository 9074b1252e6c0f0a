/** The gRPC server's surface, the same for each transport (node:http2 here, our own HTTP/2
 *  on Bun sockets in ../h2/), so the daemon picks one with an import. */
import type { CallEnv, InflightCall, Logger, OnCall, ServiceAwareRouter } from "./call.ts";

export interface GrpcServerOptions {
  /** Hands each method path to its Route. May implement `hasService` for grpc-go's exact
   *  "unknown method M for service S" wording; without it every miss is "unknown service S". */
  router: ServiceAwareRouter;
  /** Largest request message accepted, in bytes (containerd: 16 MiB). */
  maxRecvMessageSize: number;
  /** Largest reply message sent, in bytes (containerd: 16 MiB). */
  maxSendMessageSize: number;
  /** Called once per routed call when it ends, for metrics. */
  onCall?: OnCall;
  log: Logger;
}

export interface UnixListenOptions {
  uid?: number;
  gid?: number;
  /** Socket file mode; containerd's is 0o660. */
  mode?: number;
}

/** PEM data (not file paths). Without cert and key the listener is plain HTTP/2, as
 *  containerd's tcp_address is without tcp_tls_cert. */
export interface TcpListenOptions {
  cert?: string | Buffer;
  key?: string | Buffer;
  /** CA bundle: when set, clients must present a certificate it signed (mTLS). */
  ca?: string | Buffer;
}

export interface GrpcServer {
  /** Resolves with the socket path once listening (mode and owner applied). */
  listenUnix(path: string, options?: UnixListenOptions): Promise<string>;
  /** Resolves with the bound "host:port" (useful with port 0). */
  listenTcp(address: string, options?: TcpListenOptions): Promise<string>;
  /** Stops accepting, lets in-flight calls finish for up to graceMs, then cuts the rest
   *  (their handlers see their signal abort) and removes the unix socket files. */
  close(graceMs?: number): Promise<void>;
}

/** Creates a gRPC server: one Router, any number of listeners. */
export type CreateGrpcServer = (options: GrpcServerOptions) => GrpcServer;

/** What every call of one server shares. */
export function createCallEnv(options: GrpcServerOptions): CallEnv {
  return {
    router: options.router,
    maxRecvMessageSize: options.maxRecvMessageSize,
    maxSendMessageSize: options.maxSendMessageSize,
    onCall: options.onCall,
    log: options.log,
    inflight: new Set<InflightCall>(),
  };
}
