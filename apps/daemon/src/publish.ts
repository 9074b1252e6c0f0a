/** `bunkerd publish`: what a shim execs (`-publish-binary`) to send one event. The event is a
 *  protobuf `google.protobuf.Any` on stdin. A `.ttrpc` address gets ttrpc Events/Forward (as
 *  containerd's shims publish); any other address gets gRPC Events/Publish, as containerd's
 *  own `publish` command does. */
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { AnySchema, timestampNow } from "@bufbuild/protobuf/wkt";
import { createDaemonTransport } from "@bunkerd/client";
import { invalidArgument, validateIdentifier, validateTopic } from "@bunkerd/plugin-api";
import { Events } from "@bunkerd/proto/containerd/services/events/v1/events_pb.ts";
import { ForwardRequestSchema } from "@bunkerd/proto/containerd/services/ttrpc/events/v1/events_pb.ts";
import { TtrpcClient } from "@bunkerd/ttrpc";
import { createClient } from "@connectrpc/connect";

export interface PublishArgs {
  address: string;
  topic: string;
  namespace: string;
  payload: Uint8Array;
}

export async function publish({ address, topic, namespace, payload }: PublishArgs): Promise<void> {
  if (topic === "") throw invalidArgument("topic required to publish event");
  validateTopic(topic);
  validateIdentifier(namespace);
  let event: ReturnType<typeof fromBinary<typeof AnySchema>>;
  try {
    event = fromBinary(AnySchema, payload);
  } catch (e) {
    throw invalidArgument(`event on stdin is not a protobuf Any: ${(e as Error).message}`);
  }
  if (address.endsWith(".ttrpc")) {
    const client = await TtrpcClient.connect(address);
    try {
      const req = create(ForwardRequestSchema, {
        envelope: { timestamp: timestampNow(), namespace, topic, event },
      });
      await client.call(
        "containerd.services.events.ttrpc.v1.Events",
        "Forward",
        toBinary(ForwardRequestSchema, req),
        {
          timeoutMs: 10_000,
        },
      );
    } finally {
      client.close();
    }
    return;
  }
  const events = createClient(Events, createDaemonTransport(address, { namespace, timeoutMs: 10_000 }));
  await events.publish({ topic, event: create(AnySchema, event) });
}
