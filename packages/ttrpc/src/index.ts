/** @bunkerd/ttrpc: containerd's lightweight RPC over unix sockets, wire-compatible with Go's
 *  github.com/containerd/ttrpc. Shims serve their task API on it, and the daemon serves
 *  events on `<socket>.ttrpc`.
 *
 *  Every message is a frame: a 10-byte header (payload length u32 BE, stream id u32 BE,
 *  type u8: 1 request, 2 response, 3 data; flags u8) and a payload of at most 4 MiB. A request
 *  carries `ttrpc.Request` {service, method, payload, timeout_nano, metadata}; the answer on the
 *  same stream id carries `ttrpc.Response` {google.rpc.Status, payload}. Client stream ids are
 *  odd and increasing. Only unary calls are supported; streaming requests get Unimplemented.
 *
 *  Payloads stay encoded: the server hands bytes to a dispatcher and returns the bytes it gets
 *  back; errors travel as gRPC status codes, mapped by @bunkerd/plugin-api's error kinds. */

export {
  createTtrpcServer,
  type TtrpcCallContext,
  type TtrpcDispatch,
  type TtrpcListenOptions,
  type TtrpcServer,
  type TtrpcServerOptions,
} from "./server.ts";
export { type TtrpcCallOptions, TtrpcClient, type TtrpcConnectOptions } from "./client.ts";

// Framing, for tools and tests that speak the protocol by hand.
export {
  type DecodedFrame,
  encodeFrame,
  Flag,
  type Frame,
  FrameDecoder,
  type FrameHeader,
  HEADER_LENGTH,
  isOversized,
  MAX_MESSAGE_LENGTH,
  MessageType,
  type OversizedFrame,
} from "./frame.ts";
