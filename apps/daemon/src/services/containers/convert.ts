/** Containers between the API's protobuf messages and the store's records. */
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { Container as ContainerMessage } from "@bunkerd/proto/containerd/services/containers/v1/containers_pb.ts";
import type { AnyValue, Container } from "./types.ts";

const anyOf = (a: { typeUrl: string; value: Uint8Array }): AnyValue => ({
  typeUrl: a.typeUrl,
  value: a.value,
});

/** A request's container as a record; what it lacks is empty, and validation says what is wrong. */
export function fromProto(c: ContainerMessage | undefined): Container {
  const extensions = new Map<string, AnyValue>();
  for (const [name, e] of Object.entries(c?.extensions ?? {})) extensions.set(name, anyOf(e));
  const options = c?.runtime?.options;
  return {
    id: c?.id ?? "",
    labels: c?.labels ?? {},
    image: c?.image ?? "",
    runtime: { name: c?.runtime?.name ?? "", ...(options ? { options: anyOf(options) } : {}) },
    ...(c?.spec ? { spec: anyOf(c.spec) } : {}),
    snapshotter: c?.snapshotter ?? "",
    snapshotKey: c?.snapshotKey ?? "",
    // Set by the store; a client cannot choose them.
    createdAt: new Date(0),
    updatedAt: new Date(0),
    extensions: Object.fromEntries(extensions),
    // containerd 1.7's field 11; the 1.6 API served here has no way to set it.
    sandbox: "",
  };
}

export function toProto(c: Container) {
  return {
    id: c.id,
    labels: c.labels,
    image: c.image,
    runtime: { name: c.runtime.name, options: c.runtime.options },
    spec: c.spec,
    snapshotter: c.snapshotter,
    snapshotKey: c.snapshotKey,
    createdAt: timestampFromDate(c.createdAt),
    updatedAt: timestampFromDate(c.updatedAt),
    extensions: c.extensions,
  };
}
