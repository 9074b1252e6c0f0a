/** @bunkerd/client: Connect clients for containerd's gRPC API over a unix socket (or TCP),
 *  used by bctr, by `bunkerd publish` and by the test suites. Works against bunkerd and
 *  against a real containerd. */
export { type DaemonClientOptions, createDaemonTransport, namespaceInterceptor } from "./transport.ts";
