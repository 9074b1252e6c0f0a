/** Images: io.containerd.service.v1.images-service (the local implementation, beside the metadata
 *  store) and io.containerd.grpc.v1.images (the API adapter), as containerd registers them.
 *  Every call needs a namespace; the server refuses one without it before a handler runs. */
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { definePlugin, PluginType } from "@bunkerd/plugin-api";
import type { Image as ImageMessage } from "@bunkerd/proto/containerd/services/images/v1/images_pb.ts";
import { Images } from "@bunkerd/proto/containerd/services/images/v1/images_pb.ts";
import type { MetadataDb } from "../../plugins/metadata/db.ts";
import { METADATA_WORKER } from "../../plugins/metadata/plugin.ts";
import { gcNotifier } from "../../plugins/metadata/gc-notify.ts";
import type { Image, ImageInput, ImagesLocal } from "./local.ts";

export const imagesService = definePlugin({
  type: PluginType.Service,
  id: "images-service",
  requires: [PluginType.Metadata],
  worker: METADATA_WORKER,
  async init(ctx) {
    const { ImagesLocal } = await import("./local.ts");
    const db = await ctx.get<MetadataDb>(PluginType.Metadata, "sqlite");
    return new ImagesLocal(
      db,
      (topic, namespace, ev) =>
        ctx.events.publish(namespace, topic, { typeUrl: ev.typeName, value: ev.bytes }),
      gcNotifier(ctx),
    );
  },
});

export const imagesGrpc = definePlugin({
  type: PluginType.GRPC,
  id: "images",
  requires: [PluginType.Service],
  worker: METADATA_WORKER,
  async init(ctx) {
    const local = await ctx.get<ImagesLocal>(PluginType.Service, "images-service");
    ctx.registerService(Images, {
      async get(req, call) {
        return { image: toProto(await local.get(call.namespace!, req.name)) };
      },
      async list(req, call) {
        return { images: (await local.list(call.namespace!, req.filters)).map(toProto) };
      },
      async create(req, call) {
        return { image: toProto(await local.create(call.namespace!, fromProto(req.image))) };
      },
      async update(req, call) {
        const paths = req.updateMask?.paths ?? [];
        return { image: toProto(await local.update(call.namespace!, fromProto(req.image), paths)) };
      },
      async delete(req, call) {
        await local.delete(call.namespace!, req.name, { sync: req.sync });
        return {};
      },
    });
  },
});

function fromProto(image: ImageMessage | undefined): ImageInput {
  const t = image?.target;
  return {
    name: image?.name ?? "",
    labels: image?.labels ?? {},
    target: {
      mediaType: t?.mediaType ?? "",
      digest: t?.digest ?? "",
      size: Number(t?.size ?? 0n),
      annotations: t?.annotations ?? {},
    },
  };
}

function toProto(image: Image) {
  return {
    name: image.name,
    labels: image.labels,
    target: { ...image.target, size: BigInt(image.target.size) },
    createdAt: timestampFromDate(image.createdAt),
    updatedAt: timestampFromDate(image.updatedAt),
  };
}

export default [imagesService, imagesGrpc];
