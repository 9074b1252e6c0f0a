/** The router's contract: what the gRPC and ttrpc servers call for one RPC.
 *  Payloads stay encoded protobuf bytes from the socket to the worker that owns the
 *  service; only the owner decodes them. */

export type MethodKind = "unary" | "server_streaming" | "client_streaming" | "bidi_streaming";

/** What a server learned about the caller; handed to every handler. */
export interface CallContext {
  /** Full method path, "/containerd.services.namespaces.v1.Namespaces/Create". */
  readonly method: string;
  readonly protocol: "grpc" | "ttrpc" | "internal";
  /** From `containerd-namespace` (gRPC) or `containerd-namespace-ttrpc` (ttrpc). */
  readonly namespace?: string;
  /** From `containerd-lease`. */
  readonly lease?: string;
  /** Absolute deadline in ms since the epoch (Date.now() scale), from grpc-timeout / timeout_nano. */
  readonly deadline?: number;
  /** Request headers (lower-case keys). */
  readonly metadata: Readonly<Record<string, string[]>>;
  /** Aborts when the caller goes away, cancels, or the deadline passes. */
  readonly signal: AbortSignal;
}

/** A plain-data CallContext (no signal), as it crosses a worker port. */
export type WireCallContext = Omit<CallContext, "signal">;

export interface Route {
  readonly path: string;
  readonly kind: MethodKind;
  /** Whether the method needs a namespace (containerd answers FailedPrecondition "namespace is required"). */
  readonly namespaced: boolean;
  /** unary / server streaming: one request message. client / bidi streaming: a stream of them.
   *  Returns the response message, or (server / bidi streaming) a stream of them.
   *  Throws BunkerError (or any error, mapped by toBunkerError) on failure. */
  invoke(
    request: Uint8Array | AsyncIterable<Uint8Array>,
    ctx: CallContext,
  ): Promise<Uint8Array> | AsyncIterable<Uint8Array>;
}

export interface Router {
  lookup(path: string): Route | undefined;
}
