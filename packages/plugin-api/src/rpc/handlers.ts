/** Typed service handlers over protobuf-es descriptors, and the Route that wraps them:
 *  decode the request bytes with the method's input schema, call the handler with the
 *  CallContext, encode its reply. This runs wherever the service lives (a worker, or the
 *  host for router-level services), so the bytes are decoded exactly once. */
import {
  type DescMessage,
  type DescMethod,
  type DescService,
  fromBinary,
  type MessageInitShape,
  type MessageShape,
  create,
  toBinary,
} from "@bufbuild/protobuf";
import { notImplemented } from "../errors/kinds.ts";
import type { CallContext, MethodKind, Route } from "./route.ts";

type MethodInfo = { methodKind: MethodKind; input: DescMessage; output: DescMessage };

type Reply<O extends DescMessage> = MessageInitShape<O>;

type Handler<M> = M extends {
  methodKind: "unary";
  input: infer I extends DescMessage;
  output: infer O extends DescMessage;
}
  ? (req: MessageShape<I>, ctx: CallContext) => Promise<Reply<O>> | Reply<O>
  : M extends {
        methodKind: "server_streaming";
        input: infer I extends DescMessage;
        output: infer O extends DescMessage;
      }
    ? (req: MessageShape<I>, ctx: CallContext) => AsyncIterable<Reply<O>>
    : M extends {
          methodKind: "client_streaming";
          input: infer I extends DescMessage;
          output: infer O extends DescMessage;
        }
      ? (reqs: AsyncIterable<MessageShape<I>>, ctx: CallContext) => Promise<Reply<O>>
      : M extends {
            methodKind: "bidi_streaming";
            input: infer I extends DescMessage;
            output: infer O extends DescMessage;
          }
        ? (reqs: AsyncIterable<MessageShape<I>>, ctx: CallContext) => AsyncIterable<Reply<O>>
        : never;

/** Like Connect's ServiceImpl, with our CallContext. */
export type ServiceHandlers<S extends DescService> = S extends { method: infer Ms }
  ? { [K in keyof Ms]: Handler<Ms[K]> }
  : never;

export const methodPath = (m: DescMethod) => `/${m.parent.typeName}/${m.name}`;

async function* decodeAll(schema: DescMessage, src: AsyncIterable<Uint8Array>) {
  for await (const b of src) yield fromBinary(schema, b);
}

async function* encodeAll(schema: DescMessage, src: AsyncIterable<unknown>) {
  for await (const m of src) yield toBinary(schema, create(schema, m as never));
}

// biome-ignore lint/correctness/useYield: a stream that fails before its first message
async function* failing(e: Error): AsyncGenerator<Uint8Array> {
  throw e;
}

/** Routes for every method of a service; a method without a handler answers Unimplemented. */
export function serviceRoutes<S extends DescService>(
  service: S,
  handlers: ServiceHandlers<S>,
  namespaced: boolean,
): Route[] {
  return service.methods.map((m): Route => {
    const info = m as unknown as MethodInfo & DescMethod;
    const fn = (handlers as Record<string, ((...a: unknown[]) => unknown) | undefined>)[m.localName];
    const path = methodPath(m);
    const { input, output } = info;
    const invoke = (req: Uint8Array | AsyncIterable<Uint8Array>, ctx: CallContext) => {
      if (!fn) {
        const e = notImplemented(`${path} is not implemented`);
        const streams = m.methodKind === "server_streaming" || m.methodKind === "bidi_streaming";
        return streams ? failing(e) : Promise.reject(e);
      }
      switch (m.methodKind) {
        case "unary":
          return (async () =>
            toBinary(
              output,
              create(output, (await fn(fromBinary(input, req as Uint8Array), ctx)) as never),
            ))();
        case "server_streaming":
          return encodeAll(output, fn(fromBinary(input, req as Uint8Array), ctx) as AsyncIterable<unknown>);
        case "client_streaming":
          return (async () =>
            toBinary(
              output,
              create(output, (await fn(decodeAll(input, req as AsyncIterable<Uint8Array>), ctx)) as never),
            ))();
        case "bidi_streaming":
          return encodeAll(
            output,
            fn(decodeAll(input, req as AsyncIterable<Uint8Array>), ctx) as AsyncIterable<unknown>,
          );
      }
    };
    return { path, kind: m.methodKind, namespaced, invoke: invoke as Route["invoke"] };
  });
}
