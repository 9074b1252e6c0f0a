/** The gRPC server on node:http2 stream handlers: hand-framed gRPC with no protobuf decoding,
 *  handing encoded messages to the Router (BUN-NOTES: Connect's server adapter manages ~2.3k
 *  calls/s on Bun, raw stream handlers ~3× that). ../h2/ serves the same calls on our own
 *  HTTP/2 over Bun sockets, faster again; this one stays as the reference both must match.
 *
 *  One Router, several listeners: a unix socket (plain HTTP/2, like containerd's) and
 *  optionally TCP, with TLS when given a certificate and mTLS when given a CA. */
import { chmod, chown, rm } from "node:fs/promises";
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { createCallEnv, type GrpcServer, type GrpcServerOptions } from "./api.ts";
import { serveStream } from "./call.ts";
import { formatHostPort, listenOn, parseHostPort, prepareUnixSocket } from "./listen.ts";
import { NodeServerStream } from "./node-stream.ts";

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

// HTTP/2 settings. grpc-go (and so containerd) allows unlimited concurrent streams; we
// advertise a large finite number. maxSessionMemory: see BUN-NOTES (ENHANCE_YOUR_CALM).
const maxConcurrentStreams = 1 << 20;
const http2Options: http2.ServerOptions = {
  maxSessionMemory: 1000,
  peerMaxConcurrentStreams: maxConcurrentStreams,
  settings: { maxConcurrentStreams, enablePush: false },
};

// The highest stream id a session has opened, for a GOAWAY that lets those streams finish.
const lastStreamId = Symbol("lastStreamId");

// Clients that exit without a goodbye (every Go ctr run) reset their connection: routine.
const routineErrors = new Set(["ECONNRESET", "EPIPE", "ECANCELED", "ERR_STREAM_PREMATURE_CLOSE"]);

export function createNodeGrpcServer(options: GrpcServerOptions): GrpcServer {
  const { log } = options;
  const env = createCallEnv(options);
  const onStreamError = (e: Error) => log.debug("grpc: stream error", e.message);
  const servers: http2.Http2Server[] = [];
  const sessions = new Set<http2.ServerHttp2Session>();
  const socketPaths: string[] = [];
  let closing = false;

  const onStream = (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => {
    const session = stream.session as (http2.ServerHttp2Session & { [lastStreamId]?: number }) | undefined;
    if (closing) {
      // Opened after our GOAWAY: the client may safely retry it elsewhere.
      if (!stream.destroyed) stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
      return;
    }
    if (session) session[lastStreamId] = stream.id;
    try {
      serveStream(env, new NodeServerStream(stream, headers, onStreamError));
    } catch (e) {
      log.error("grpc: stream handler failed", e);
      stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
    }
  };
  const onSessionError = (e: NodeJS.ErrnoException) => {
    if (e?.code && routineErrors.has(e.code)) log.debug("grpc: connection reset", e.code);
    else log.warn("grpc: connection error", e);
  };
  const onSession = (session: http2.ServerHttp2Session) => {
    if (closing) {
      session.destroy();
      return;
    }
    sessions.add(session);
    session.on("error", onSessionError);
    session.on("close", () => sessions.delete(session));
  };

  function wire<S extends http2.Http2Server>(server: S): S {
    server.on("stream", onStream);
    server.on("session", onSession);
    server.on("sessionError", onSessionError);
    return server;
  }

  /** Listens, and only then counts the server as ours (a failed listen leaves nothing behind). */
  async function start(server: http2.Http2Server, target: Parameters<typeof listenOn>[1]): Promise<void> {
    await listenOn(server, target);
    server.on("error", (e) => log.error("grpc: server error", e));
    servers.push(server);
  }

  function checkOpen(): void {
    if (closing) throw new Error("grpc server is closed");
  }

  return {
    async listenUnix(path, { uid, gid, mode = 0o660 } = {}) {
      checkOpen();
      await prepareUnixSocket(path);
      const server = wire(http2.createServer(http2Options));
      await start(server, { path });
      socketPaths.push(path);
      try {
        await chmod(path, mode);
        if (uid !== undefined || gid !== undefined) await chown(path, uid ?? -1, gid ?? -1);
      } catch (e) {
        server.close();
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
      let server: http2.Http2Server;
      if (cert !== undefined && key !== undefined) {
        const secure = http2.createSecureServer({
          ...http2Options,
          cert,
          key,
          ca,
          requestCert: ca !== undefined,
          rejectUnauthorized: ca !== undefined,
          ALPNProtocols: ["h2"],
          allowHTTP1: false,
        });
        // A refused client certificate or a non-TLS client: the peer's problem, not ours.
        secure.on("tlsClientError", (e) => log.debug("grpc: TLS handshake refused", e.message));
        server = wire(secure as unknown as http2.Http2Server);
      } else {
        if (ca !== undefined) throw new Error(`grpc tcp ${address}: a CA needs a certificate and key`);
        server = wire(http2.createServer(http2Options));
      }
      await start(server, { host, port });
      const bound = server.address() as AddressInfo;
      const where = formatHostPort(bound.address, bound.port);
      log.debug(`grpc: serving on tcp://${where}${cert ? " (TLS)" : ""}`);
      return where;
    },

    async close(graceMs = 10_000) {
      closing = true;
      const stopped = servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve())));
      // GOAWAY naming the last stream each client opened: those go on, new ones go elsewhere.
      // (Bun's session.close() cuts in-flight streams at once, so it is not used here.)
      for (const s of sessions) {
        try {
          s.goaway(http2.constants.NGHTTP2_NO_ERROR, (s as { [lastStreamId]?: number })[lastStreamId] ?? 0);
        } catch {
          s.destroy();
        }
      }
      const deadline = Date.now() + graceMs;
      while (env.inflight.size > 0 && Date.now() < deadline) {
        await sleep(Math.min(20, Math.max(1, deadline - Date.now())));
      }
      if (env.inflight.size > 0) {
        log.warn(`grpc: ${env.inflight.size} calls still running after ${graceMs} ms; ending them`);
        for (const call of [...env.inflight]) call.shutdown();
        await sleep(20); // let their status frames out before the connections go
      }
      for (const s of sessions) s.destroy();
      await Promise.race([Promise.all(stopped), sleep(1000)]);
      await Promise.all(socketPaths.map((p) => rm(p, { force: true })));
    },
  };
}
