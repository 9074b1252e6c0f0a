/** A tiny gRPC server answering containerd's Version/Version, for load tests of a transport:
 *
 *    bun apps/daemon/src/server/h2/bench/serve-version.ts h2|node SOCKET
 *
 *  Prints "ready" when listening; stops on SIGTERM/SIGINT. Not part of the daemon. */
import { create, toBinary } from "@bufbuild/protobuf";
import type { Route } from "@bunkerd/plugin-api";
import { VersionResponseSchema } from "@bunkerd/proto/containerd/services/version/v1/version_pb.ts";
import type { CreateGrpcServer } from "../../grpc/api.ts";
import { createNodeGrpcServer } from "../../grpc/server.ts";
import { createGrpcServer } from "../server.ts";

const [transport = "h2", socket = "/tmp/bunkerd-bench.sock"] = process.argv.slice(2);
const make: CreateGrpcServer = transport === "node" ? createNodeGrpcServer : createGrpcServer;
const reply = toBinary(
  VersionResponseSchema,
  create(VersionResponseSchema, { version: "1.6.20", revision: "bench" }),
);
const route: Route = {
  path: "/containerd.services.version.v1.Version/Version",
  kind: "unary",
  namespaced: false,
  invoke: async () => reply,
};
const quiet = () => {};
const server = make({
  router: { lookup: (p) => (p === route.path ? route : undefined) },
  maxRecvMessageSize: 16 << 20,
  maxSendMessageSize: 16 << 20,
  log: { debug: quiet, info: quiet, warn: console.warn, error: console.error },
});
await server.listenUnix(socket);
console.log("ready");
const stop = async () => {
  await server.close(100);
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
