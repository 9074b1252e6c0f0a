/** The suite every gRPC transport must pass (STYLE.md 6): the same calls, wire format, Go
 *  `ctr` and TLS checks against node:http2 (../server.ts) and our own HTTP/2 (../../h2/). */
import { describe } from "bun:test";
import type { CreateGrpcServer } from "../api.ts";
import { callSuite } from "./calls.ts";
import { ctrSuite } from "./ctr.ts";
import { tlsSuite } from "./tls.ts";
import { wireSuite } from "./wire.ts";

export function grpcServerSuite(name: string, createGrpcServer: CreateGrpcServer): void {
  describe(`${name}: calls`, () => callSuite(createGrpcServer));
  describe(`${name}: wire`, () => wireSuite(createGrpcServer));
  describe(`${name}: Go ctr`, () => ctrSuite(createGrpcServer));
  describe(`${name}: TCP and TLS`, () => tlsSuite(createGrpcServer));
}
