/** Streaming: client-opened Any streams, found by id by the services that use them. */
export { packAny, typeNameOf, unpackAny } from "./any.ts";
export { type AnyMessage, ManagedStream, type Stream, StreamManager } from "./manager.ts";
export { STREAMING_PLUGIN, streamingGrpc, streamManager, TRANSFER_WORKER } from "./plugin.ts";
export { streamingService } from "./service.ts";
