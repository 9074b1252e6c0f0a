/** A gRPC transport to a containerd-style daemon. Unix socket paths (with or without
 *  `unix://`) dial the socket; anything else is "host:port" over TCP. The namespace goes in
 *  the `containerd-namespace` header of every call, as containerd's Go client sends it.
 *  Note (BUN-NOTES): Bun's http2 client stalls on streamed messages above ~128 KiB: callers
 *  that stream chunks keep them at or below 64 KiB. */
import { connect as netConnect } from "node:net";
import type { Interceptor, Transport } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";

export interface DaemonClientOptions {
  namespace?: string;
  /** Per-call timeout. */
  timeoutMs?: number;
  /** Fail a connection that is not established within this many ms (ctr's --connect-timeout). */
  connectTimeoutMs?: number;
  /** Run after the namespace interceptor (e.g. a `containerd-lease` header). */
  interceptors?: Interceptor[];
}

export const namespaceInterceptor =
  (namespace: string): Interceptor =>
  (next) =>
  (req) => {
    req.header.set("containerd-namespace", namespace);
    return next(req);
  };

export function createDaemonTransport(address: string, opts: DaemonClientOptions = {}): Transport {
  const path = address.startsWith("unix://") ? address.slice("unix://".length) : address;
  const isUnix = path.startsWith("/") || path.startsWith(".");
  return createGrpcTransport({
    baseUrl: isUnix ? "http://localhost" : `http://${path}`,
    nodeOptions: isUnix ? { createConnection: () => dial(path, opts.connectTimeoutMs) } : undefined,
    interceptors: [
      ...(opts.namespace ? [namespaceInterceptor(opts.namespace)] : []),
      ...(opts.interceptors ?? []),
    ],
    defaultTimeoutMs: opts.timeoutMs,
  });
}

function dial(path: string, timeoutMs = 0) {
  const socket = netConnect(path);
  if (timeoutMs > 0) {
    const timer = setTimeout(
      () => socket.destroy(new Error(`connect ${path}: timed out after ${timeoutMs} ms`)),
      timeoutMs,
    );
    socket.once("connect", () => clearTimeout(timer));
    socket.once("close", () => clearTimeout(timer));
  }
  return socket;
}
