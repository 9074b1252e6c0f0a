/** A daemon-side pull through containerd 1.7's Transfer service, the way bctr pulls: one
 *  `Transfer/Transfer` call moving an OCIRegistry source into the ImageStore, unpacked for
 *  linux/amd64 into the default snapshotter. No progress stream: what the daemon itself takes. */
import { create, toBinary } from "@bufbuild/protobuf";
import type { Any } from "@bufbuild/protobuf/wkt";
import { createDaemonTransport } from "@bunkerd/client";
import { Transfer } from "@bunkerd/proto/containerd/services/transfer/v1/transfer_pb.ts";
import { ImageStoreSchema } from "@bunkerd/proto/containerd/types/transfer/imagestore_pb.ts";
import { OCIRegistrySchema } from "@bunkerd/proto/containerd/types/transfer/registry_pb.ts";
import { createClient } from "@connectrpc/connect";

const any = (typeUrl: string, value: Uint8Array) => ({ typeUrl, value }) as Any;

/** Pulls `ref` over plain http into the daemon at `address`; resolves when Transfer returns. */
export async function transferPull(
  address: string,
  ref: string,
  o: { namespace: string; timeoutMs?: number },
): Promise<void> {
  const platform = { os: "linux", architecture: "amd64" };
  const source = create(OCIRegistrySchema, { reference: ref, resolver: { defaultScheme: "http" } });
  const destination = create(ImageStoreSchema, {
    name: ref,
    platforms: [platform],
    unpacks: [{ platform, snapshotter: "" }],
  });
  const transfer = createClient(Transfer, createDaemonTransport(address, { namespace: o.namespace }));
  await transfer.transfer(
    {
      source: any(OCIRegistrySchema.typeName, toBinary(OCIRegistrySchema, source)),
      destination: any(ImageStoreSchema.typeName, toBinary(ImageStoreSchema, destination)),
    },
    { timeoutMs: o.timeoutMs ?? 600_000 },
  );
}
