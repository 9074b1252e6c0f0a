/** The daemon's gRPC server on our own HTTP/2 (connection.ts) over `Bun.listen` sockets:
 *  unix (plain, like containerd's), TCP, TLS and mTLS. The same API and the same calls
 *  (../grpc/call.ts) as the node:http2 server, with one socket write per event-loop turn per
 *  connection instead of one per frame: that is where the throughput comes from. */
import { chmod, chown, rm } from "node:fs/promises";
import type { Socket, SocketHandler, SocketListener, TLSOptions } from "bun";
import { createCallEnv, type GrpcServer, type GrpcServerOptions } from "../grpc/api.ts";
import { serveStream } from "../grpc/call.ts";
import { formatHostPort, parseHostPort, prepareUnixSocket } from "../grpc/listen.ts";
import { H2Connection } from "./connection.ts";

type Conn = { h2?: H2Connection };

// ALPN in its wire form (a length-prefixed list): only "h2" is offered.
const alpnH2 = Buffer.from("\x02h2", "latin1");

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export function createGrpcServer(options: GrpcServerOptions): GrpcServer {
  const { log } = options;
  const env = createCallEnv(options);
  const listeners: SocketListener<Conn>[] = [];
  const connections = new Set<H2Connection>();
  const socketPaths: string[] = [];
  let closing = false;

  const onStream = (stream: Parameters<typeof serveStream>[1]) => serveStream(env, stream);

  const startConnection = (socket: Socket<Conn>, tcp: boolean) => {
    if (closing) {
      socket.end();
      return;
    }
    // Replies are already one write per turn; Nagle would only hold them back.
    if (tcp) socket.setNoDelay(true);
    const h2 = new H2Connection(socket, { onStream, log });
    socket.data = { h2 };
    connections.add(h2);
    h2.start();
  };

  const handler = (kind: "unix" | "tcp" | "tls"): SocketHandler<Conn> => ({
    // Over TLS, open comes after the handshake (no handshake handler); a client certificate
    // that does not verify has already failed it (requestCert + rejectUnauthorized).
    open: (socket) => startConnection(socket, kind !== "unix"),
    data: (socket, chunk) => socket.data.h2?.receive(chunk),
    drain: (socket) => socket.data.h2?.drain(),
    close: (socket) => {
      const h2 = socket.data.h2;
      if (!h2) return;
      h2.socketClosed();
      connections.delete(h2);
    },
    // Clients that exit without a goodbye (every Go ctr run) reset the connection: routine.
    error: (_socket, e) => log.debug(`grpc: ${kind} connection error`, e.message),
  });

  function checkOpen(): void {
    if (closing) throw new Error("grpc server is closed");
  }

  return {
    async listenUnix(path, { uid, gid, mode = 0o660 } = {}) {
      checkOpen();
      await prepareUnixSocket(path);
      const listener = Bun.listen<Conn>({ unix: path, socket: handler("unix"), data: {} });
      listeners.push(listener);
      socketPaths.push(path);
      try {
        await chmod(path, mode);
        if (uid !== undefined || gid !== undefined) await chown(path, uid ?? -1, gid ?? -1);
      } catch (e) {
        listener.stop(true);
        await rm(path, { force: true });
        throw e;
      }
      log.debug(`grpc: serving on unix://${path}`);
      return path;
    },

    async listenTcp(address, { cert, key, ca } = {}) {
      checkOpen();
      const { host, port } = parseHostPort(address);
      if ((cert === undefined) !== (key === undefined)) {
        throw new Error(`grpc tcp ${address}: TLS needs both a certificate and a key`);
      }
      if (ca !== undefined && cert === undefined) {
        throw new Error(`grpc tcp ${address}: a CA needs a certificate and key`);
      }
      const tls: TLSOptions | undefined =
        cert !== undefined && key !== undefined
          ? {
              cert,
              key,
              ca,
              requestCert: ca !== undefined,
              rejectUnauthorized: ca !== undefined,
              ALPNProtocols: alpnH2,
            }
          : undefined;
      const listen = (hostname: string) =>
        Bun.listen<Conn>({ hostname, port, tls, socket: handler(tls ? "tls" : "tcp"), data: {} });
      let listener: SocketListener<Conn> & { hostname: string; port: number };
      if (host) {
        listener = listen(host);
      } else {
        // ":port" is every interface, both families where the host has IPv6 (as Go's net).
        try {
          listener = listen("::");
        } catch {
          listener = listen("0.0.0.0");
        }
      }
      listeners.push(listener);
      const where = formatHostPort(listener.hostname, listener.port);
      log.debug(`grpc: serving on tcp://${where}${tls ? " (TLS)" : ""}`);
      return where;
    },

    async close(graceMs = 10_000) {
      closing = true;
      for (const l of listeners) l.stop(false);
      // GOAWAY naming the last stream each client opened: those go on, new ones go elsewhere.
      for (const c of connections) c.goaway(() => c.destroy());
      const deadline = Date.now() + graceMs;
      while (env.inflight.size > 0 && Date.now() < deadline) {
        await sleep(Math.min(20, Math.max(1, deadline - Date.now())));
      }
      if (env.inflight.size > 0) {
        log.warn(`grpc: ${env.inflight.size} calls still running after ${graceMs} ms; ending them`);
        for (const call of [...env.inflight]) call.shutdown();
        await sleep(20); // let their status frames out before the connections go
      }
      for (const c of connections) c.destroy();
      connections.clear();
      for (const l of listeners) l.stop(true);
      await Promise.all(socketPaths.map((p) => rm(p, { force: true })));
    },
  };
}
