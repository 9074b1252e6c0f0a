/** The Containers service's behaviour (containerd's `services/containers/local.go`, release 1.6),
 *  run beside the metadata store. The gRPC adapter only translates requests to these calls; the
 *  store's rules are in plugins/metadata/containers.ts. The tasks service reads containers through
 *  a proxy to this object (`types.ts` is the contract).
 *
 *  What containerd does, and so we do:
 *  - update refuses a request without an ID with InvalidArgument `Container.ID required` (a bare
 *    status message, no ": invalid argument").
 *  - events go out after the change commits, in the caller's namespace: `/containers/create`
 *    carries the ID, image and runtime (name and options), `/containers/update` the ID, image,
 *    labels as stored and snapshot key, `/containers/delete` the ID.
 *  - every committed change is reported to the garbage collector, a delete as a deletion (the
 *    container's snapshot may now be unreferenced).
 *  - a filter that does not parse is InvalidArgument. */
import {
  create as createMessage,
  type DescMessage,
  type MessageInitShape,
  toBinary,
} from "@bufbuild/protobuf";
import { Code, fromStatus, parseFilters } from "@bunkerd/plugin-api";
import {
  ContainerCreateSchema,
  ContainerDeleteSchema,
  ContainerUpdateSchema,
} from "@bunkerd/proto/containerd/events/container_pb.ts";
import {
  createContainer,
  deleteContainer,
  getContainer,
  listContainers,
  updateContainer,
} from "../../plugins/metadata/containers.ts";
import { type MetadataDb, read, write } from "../../plugins/metadata/db.ts";
import type { GcNotifier } from "../../plugins/metadata/gc-notify.ts";
import type { Publish } from "../namespaces/index.ts";
import type { Container, ContainersLocal as ContainersLocalContract } from "./types.ts";

export const ContainerTopic = {
  create: "/containers/create",
  update: "/containers/update",
  delete: "/containers/delete",
} as const;

export class ContainersLocal implements ContainersLocalContract {
  constructor(
    private readonly db: MetadataDb,
    private readonly publish: Publish,
    private readonly gc: GcNotifier,
  ) {}

  /** The container, or NotFound `container "<id>" in namespace "<ns>": not found`. */
  async get(namespace: string, id: string): Promise<Container> {
    return read(this.db, (tx) => getContainer(tx, namespace, id));
  }

  /** The containers matching any of the filters (`id`, `image`, `runtime.name`, `labels.<key>`),
   *  by ID. */
  async list(namespace: string, filters: string[] = []): Promise<Container[]> {
    const parsed = parseFilters(filters);
    return read(this.db, (tx) => listContainers(tx, namespace, parsed));
  }

  async create(namespace: string, container: Container): Promise<Container> {
    const created = write(this.db, (tx) => createContainer(tx, namespace, container));
    this.gc.mutated();
    await this.emit(ContainerTopic.create, namespace, ContainerCreateSchema, {
      id: created.id,
      image: created.image,
      runtime: { name: created.runtime.name, options: created.runtime.options },
    });
    return created;
  }

  /** Updates the container; `paths` as in plugins/metadata/containers.ts `updateContainer`. */
  async update(namespace: string, container: Container, paths: string[] = []): Promise<Container> {
    // containerd builds this one with status.Errorf: no ": invalid argument" suffix.
    if (!container.id) throw fromStatus(Code.InvalidArgument, "Container.ID required");
    const updated = write(this.db, (tx) => updateContainer(tx, namespace, container, paths));
    this.gc.mutated();
    await this.emit(ContainerTopic.update, namespace, ContainerUpdateSchema, {
      id: updated.id,
      image: updated.image,
      labels: updated.labels,
      snapshotKey: updated.snapshotKey,
    });
    return updated;
  }

  async delete(namespace: string, id: string): Promise<void> {
    write(this.db, (tx) => deleteContainer(tx, namespace, id));
    this.gc.deleted();
    await this.emit(ContainerTopic.delete, namespace, ContainerDeleteSchema, { id });
  }

  private async emit<Desc extends DescMessage>(
    topic: string,
    namespace: string,
    schema: Desc,
    init: MessageInitShape<Desc>,
  ): Promise<void> {
    const bytes = toBinary(schema, createMessage(schema, init));
    await this.publish(topic, namespace, { typeName: schema.typeName, bytes });
  }
}
