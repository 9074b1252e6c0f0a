/** @bunkerd/plugin-api: what a plugin and the daemon's host agree on — plugin records,
 *  the plugin graph, error kinds, and the MessagePort contract between workers. */

// ── For plugin authors ──────────────────────────────────────────────────────────────
export {
  alreadyExists,
  BunkerError,
  Code,
  type ErrorDetail,
  failedPrecondition,
  fromStatus,
  grpcCode,
  invalidArgument,
  Kind,
  kindOfCode,
  notFound,
  notImplemented,
  toBunkerError,
  unavailable,
} from "./errors/kinds.ts";
export {
  definePlugin,
  type EventPayload,
  HOST,
  type InitContext,
  isSkip,
  type Logger,
  type Platform,
  type PluginRecord,
  PluginType,
  type Publisher,
  type ServiceOptions,
  SkipPlugin,
  skipPlugin,
  uriOf,
  workerOf,
} from "./plugin.ts";
export { methodPath, type ServiceHandlers, serviceRoutes } from "./rpc/handlers.ts";
export type { CallContext, MethodKind, Route, Router, WireCallContext } from "./rpc/route.ts";

// ── For the daemon's host ───────────────────────────────────────────────────────────
export { missingRequired, orderPlugins } from "./graph.ts";
export { decodeError, encodeError, isWireError, type WireError } from "./port/error-codec.ts";
export {
  type CallHandler,
  type CallOptions,
  type IncomingCall,
  PortPeer,
  type PortLike,
} from "./port/peer.ts";
export { traceBoot } from "./runtime/boot-trace.ts";
export { createLogger, LOG_LEVELS, type LogLevel, type LogSettings } from "./runtime/log.ts";
export {
  type InitData,
  type InitResult,
  importModule,
  type ModuleSource,
  type PlannedPlugin,
  type PluginModule,
  PluginRuntime,
  pluginProxy,
  type RuntimeLinks,
  recordsOf,
  type ServiceInfo,
} from "./runtime/runtime.ts";
export { afterBoot, serveWorker } from "./runtime/worker-main.ts";
export {
  type Conjunction,
  type FieldLookup,
  matchFilters,
  parseFilter,
  parseFilters,
  recordLookup,
} from "./filters/filters.ts";
export { requireNamespace, validateIdentifier, validateTopic } from "./identifiers.ts";
export {
  DIGEST_HEX_LENGTH,
  type DigestAlgorithm,
  digestProblem,
  INVALID_DIGEST_FORMAT,
  INVALID_DIGEST_LENGTH,
  UNSUPPORTED_DIGEST,
} from "./digest.ts";
