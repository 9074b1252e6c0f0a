/** Test fixtures for the gRPC server: a fake Router, an Echo service descriptor for Connect
 *  clients (BytesValue in and out, one method of each kind), and temp dirs and servers that
 *  clean up after themselves. Not part of the package surface. */
import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create, createFileRegistry, fromBinary, toBinary } from "@bufbuild/protobuf";
import type { GenService } from "@bufbuild/protobuf/codegenv2";
import {
  BytesValueSchema,
  FileDescriptorProtoSchema,
  file_google_protobuf_wrappers,
  MethodDescriptorProtoSchema,
} from "@bufbuild/protobuf/wkt";
import type { CallContext, MethodKind, Route, Router } from "@bunkerd/plugin-api";
import { createGrpcTransport } from "@connectrpc/connect-node";
import type { Logger, ServiceAwareRouter } from "./call.ts";
import type { CreateGrpcServer, GrpcServer, GrpcServerOptions } from "./api.ts";
import { createNodeGrpcServer } from "./server.ts";

export const echoService = "bunkerd.test.v1.Echo";

const kinds: Record<string, MethodKind> = {
  Unary: "unary",
  ServerStream: "server_streaming",
  ClientStream: "client_streaming",
  Bidi: "bidi_streaming",
  Namespaced: "unary",
};

const echoFile = createFileRegistry(
  create(FileDescriptorProtoSchema, {
    name: "bunkerd/test/v1/echo.proto",
    package: "bunkerd.test.v1",
    dependency: ["google/protobuf/wrappers.proto"],
    syntax: "proto3",
    service: [
      {
        name: "Echo",
        method: Object.entries(kinds).map(([name, kind]) =>
          create(MethodDescriptorProtoSchema, {
            name,
            inputType: ".google.protobuf.BytesValue",
            outputType: ".google.protobuf.BytesValue",
            clientStreaming: kind === "client_streaming" || kind === "bidi_streaming",
            serverStreaming: kind === "server_streaming" || kind === "bidi_streaming",
          }),
        ),
      },
    ],
  }),
  (name) => (name === "google/protobuf/wrappers.proto" ? file_google_protobuf_wrappers : undefined),
);

type Bytes = typeof BytesValueSchema;
export const Echo = echoFile.getService(echoService) as GenService<{
  unary: { methodKind: "unary"; input: Bytes; output: Bytes };
  serverStream: { methodKind: "server_streaming"; input: Bytes; output: Bytes };
  clientStream: { methodKind: "client_streaming"; input: Bytes; output: Bytes };
  bidi: { methodKind: "bidi_streaming"; input: Bytes; output: Bytes };
  namespaced: { methodKind: "unary"; input: Bytes; output: Bytes };
}>;

export const bytesMsg = (value: Uint8Array | string) =>
  create(BytesValueSchema, { value: typeof value === "string" ? new TextEncoder().encode(value) : value });
export const encodeBytes = (value: Uint8Array | string) => toBinary(BytesValueSchema, bytesMsg(value));
export const decodeBytes = (message: Uint8Array) => fromBinary(BytesValueSchema, message).value;
export const text = (b: Uint8Array) => new TextDecoder().decode(b);

export type Handler = (
  request: Uint8Array | AsyncIterable<Uint8Array>,
  ctx: CallContext,
) => Promise<Uint8Array> | AsyncIterable<Uint8Array>;

/** A Router over a table of handlers, keyed by full method path. */
export function fakeRouter(
  handlers: Record<string, { kind: MethodKind; namespaced?: boolean; handler: Handler }>,
): ServiceAwareRouter {
  const routes = new Map<string, Route>();
  for (const [path, { kind, namespaced = false, handler }] of Object.entries(handlers)) {
    routes.set(path, { path, kind, namespaced, invoke: handler });
  }
  const services = new Set([...routes.keys()].map((p) => p.slice(1, p.lastIndexOf("/"))));
  return {
    lookup: (path) => routes.get(path),
    hasService: (service) => services.has(service),
  } satisfies Router & { hasService(s: string): boolean };
}

export const quietLog: Logger = { debug() {}, info() {}, warn() {}, error() {} };

/** A per-test temp dir, removed by the returned cleanup. */
export function tempDir(prefix = "bunkerd-grpc-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

export interface Running {
  server: GrpcServer;
  dir: string;
  socket: string;
  [Symbol.asyncDispose](): Promise<void>;
}

/** A server on a fresh unix socket in a temp dir; dispose closes it and removes the dir. */
export async function serveUnix(
  router: Router,
  options: Partial<Omit<GrpcServerOptions, "router">> = {},
  createGrpcServer: CreateGrpcServer = createNodeGrpcServer,
): Promise<Running> {
  const dir = tempDir();
  const socket = join(dir, "grpc.sock");
  const server = createGrpcServer({
    router,
    maxRecvMessageSize: 16 << 20,
    maxSendMessageSize: 16 << 20,
    log: quietLog,
    ...options,
  });
  await server.listenUnix(socket);
  return {
    server,
    dir,
    socket,
    async [Symbol.asyncDispose]() {
      await server.close(100);
      removeDir(dir);
    },
  };
}

/** A Connect gRPC transport to a unix socket (HTTP/2, one connection). */
export function unixTransport(
  socket: string,
  options: { readMaxBytes?: number; writeMaxBytes?: number } = {},
) {
  return createGrpcTransport({
    baseUrl: "http://localhost",
    nodeOptions: { createConnection: () => net.connect(socket) },
    ...options,
  });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Resolves when `signal` aborts, with its reason. */
export const aborted = (signal: AbortSignal) =>
  new Promise<unknown>((resolve) => {
    if (signal.aborted) resolve(signal.reason);
    else signal.addEventListener("abort", () => resolve(signal.reason), { once: true });
  });
