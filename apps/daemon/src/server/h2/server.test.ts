/** The shared gRPC server suite (../grpc/testsuite) on our own HTTP/2 over Bun sockets. */
import { grpcServerSuite } from "../grpc/testsuite/index.ts";
import { createGrpcServer } from "./server.ts";

grpcServerSuite("h2", createGrpcServer);
