/** The Images service's behaviour (containerd's `services/images/local.go`, release 1.6), run
 *  beside the metadata store. The gRPC adapter only translates requests to these calls.
 *
 *  What containerd 1.6.20 does, and so we do (checked against the real daemon):
 *  - create and update refuse an empty name with InvalidArgument `Image.Name required` (a bare
 *    status message, no ": invalid argument"); the store's rules are in plugins/metadata/images.ts.
 *  - events go out after the change commits, in the caller's namespace: `/images/create` and
 *    `/images/update` carry the name and the labels as stored, `/images/delete` the name.
 *  - every committed change is reported to the garbage collector, a delete as a deletion; delete
 *    with `sync` then runs a collection and answers when it is done.
 *  - a filter that does not parse is InvalidArgument. */
import {
  create as createMessage,
  type DescMessage,
  type MessageInitShape,
  toBinary,
} from "@bufbuild/protobuf";
import { Code, fromStatus, parseFilters } from "@bunkerd/plugin-api";
import {
  ImageCreateSchema,
  ImageDeleteSchema,
  ImageUpdateSchema,
} from "@bunkerd/proto/containerd/events/image_pb.ts";
import { type MetadataDb, read, write } from "../../plugins/metadata/db.ts";
import {
  createImage,
  deleteImage,
  getImage,
  type Image,
  type ImageInput,
  listImages,
  updateImage,
} from "../../plugins/metadata/images.ts";
import type { GcNotifier } from "../../plugins/metadata/gc-notify.ts";
import type { Publish } from "../namespaces/index.ts";

export type { Image, ImageInput };

export const ImageTopic = {
  create: "/images/create",
  update: "/images/update",
  delete: "/images/delete",
} as const;

export class ImagesLocal {
  constructor(
    private readonly db: MetadataDb,
    private readonly publish: Publish,
    private readonly gc: GcNotifier,
  ) {}

  /** The image, or NotFound `image "<name>": not found`. */
  async get(namespace: string, name: string): Promise<Image> {
    return read(this.db, (tx) => getImage(tx, namespace, name));
  }

  /** The images matching any of the filters (`name`, `target.digest`, `target.mediatype`,
   *  `labels.<key>`, `annotations.<key>`), by name. */
  async list(namespace: string, filters: string[] = []): Promise<Image[]> {
    const parsed = parseFilters(filters);
    return read(this.db, (tx) => listImages(tx, namespace, parsed));
  }

  async create(namespace: string, image: ImageInput): Promise<Image> {
    requireName(image);
    const created = write(this.db, (tx) => createImage(tx, namespace, image));
    this.gc.mutated();
    await this.emit(ImageTopic.create, namespace, ImageCreateSchema, {
      name: created.name,
      labels: created.labels,
    });
    return created;
  }

  /** Updates the image; `fieldpaths` as in plugins/metadata/images.ts `updateImage`. All of it
   *  is applied, or none. */
  async update(namespace: string, image: ImageInput, fieldpaths: string[] = []): Promise<Image> {
    requireName(image);
    const updated = write(this.db, (tx) => updateImage(tx, namespace, image, fieldpaths));
    this.gc.mutated();
    await this.emit(ImageTopic.update, namespace, ImageUpdateSchema, {
      name: updated.name,
      labels: updated.labels,
    });
    return updated;
  }

  /** Deletes the image record; `sync` waits for the garbage collector to run. */
  async delete(namespace: string, name: string, opts: { sync?: boolean } = {}): Promise<void> {
    write(this.db, (tx) => deleteImage(tx, namespace, name));
    this.gc.deleted();
    await this.emit(ImageTopic.delete, namespace, ImageDeleteSchema, { name });
    if (opts.sync) await this.gc.collect();
  }

  private async emit<Desc extends DescMessage>(
    topic: string,
    namespace: string,
    schema: Desc,
    init: MessageInitShape<Desc>,
  ): Promise<void> {
    const bytes = toBinary(schema, createMessage(schema, init));
    // Sent, not awaited: the event travels to the exchange on the same port as (and so ahead
    // of) this call's answer, and waiting for its acknowledgement cost the caller a round trip
    // through the main thread. The change is committed whatever becomes of the event.
    Promise.resolve(this.publish(topic, namespace, { typeName: schema.typeName, bytes })).catch(() => {});
  }
}

function requireName(image: ImageInput): void {
  // containerd builds this one with status.Errorf: no ": invalid argument" suffix.
  if (!image.name) throw fromStatus(Code.InvalidArgument, "Image.Name required");
}
