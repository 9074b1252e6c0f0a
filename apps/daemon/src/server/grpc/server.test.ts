/** The shared gRPC server suite on the node:http2 transport. */
import { grpcServerSuite } from "./testsuite/index.ts";
import { createNodeGrpcServer } from "./server.ts";

grpcServerSuite("node:http2", createNodeGrpcServer);
