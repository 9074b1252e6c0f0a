/** containerd.services.events.v1.Events on gRPC (Publish, Forward, Subscribe) and
 *  containerd.services.events.ttrpc.v1.Events/Forward on ttrpc, where shims send their
 *  events. Both feed the host's exchange. Also the io.containerd.event.v1 exchange record,
 *  listed as containerd lists it. */
import { definePlugin, failedPrecondition, invalidArgument, PluginType } from "@bunkerd/plugin-api";
import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Events } from "@bunkerd/proto/containerd/services/events/v1/events_pb.ts";
import { Events as TtrpcEvents } from "@bunkerd/proto/containerd/services/ttrpc/events/v1/events_pb.ts";
import type { Envelope } from "../../events/exchange.ts";
import type { HostApi } from "../../host/api.ts";

type WireEnvelope = {
  timestamp?: Parameters<typeof timestampDate>[0];
  namespace: string;
  topic: string;
  event?: { typeUrl: string; value: Uint8Array };
};

function fromWire(env: WireEnvelope | undefined): Envelope {
  if (!env) throw invalidArgument("envelope is required");
  return {
    timestamp: env.timestamp ? timestampDate(env.timestamp) : new Date(),
    namespace: env.namespace,
    topic: env.topic,
    event: { typeUrl: bareTypeName(env.event?.typeUrl ?? ""), value: env.event?.value ?? new Uint8Array() },
  };
}

/** ctr decodes events only by containerd's bare names; accept the googleapis form too. */
const bareTypeName = (url: string) => url.replace(/^type\.googleapis\.com\//, "");

export const exchangePlugin = () =>
  definePlugin({ type: PluginType.Event, id: "exchange", init: () => null });

export const eventsPlugin = (host: HostApi) =>
  definePlugin({
    type: PluginType.GRPC,
    id: "events",
    requires: [PluginType.Event],
    init(ctx) {
      const { exchange } = host;
      ctx.registerService(
        Events,
        {
          async publish(req, call) {
            if (!call.namespace) throw failedPrecondition("namespace is required");
            if (!req.event) throw invalidArgument("event is required");
            await exchange.publish(call.namespace, req.topic, {
              typeUrl: bareTypeName(req.event.typeUrl),
              value: req.event.value,
            });
            return {};
          },
          async forward(req) {
            await exchange.forward(fromWire(req.envelope));
            return {};
          },
          async *subscribe(req, call) {
            for await (const env of exchange.subscribe(req.filters, call.signal)) {
              yield {
                timestamp: timestampFromDate(env.timestamp),
                namespace: env.namespace,
                topic: env.topic,
                event: { typeUrl: env.event.typeUrl, value: env.event.value },
              };
            }
          },
        },
        { namespaced: false },
      );
      ctx.registerService(
        TtrpcEvents,
        {
          async forward(req) {
            await exchange.forward(fromWire(req.envelope));
            return {};
          },
        },
        { namespaced: false, ttrpc: true, grpc: false },
      );
    },
  });
