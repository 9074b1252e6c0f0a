/** The Namespaces service's behaviour (containerd's `services/namespaces/local.go`, release 1.6),
 *  run beside the metadata store. The gRPC adapter only translates requests to these calls.
 *
 *  What containerd 1.6.20 does, and so we do (checked against the real daemon):
 *  - get of a namespace that does not exist answers it with no labels, not NotFound: clients
 *    read default labels (`containerd.io/defaults/snapshotter`) from a namespace that their
 *    first pull has not created yet.
 *  - update replaces all labels without a mask; with one, each path must be `labels.<key>`
 *    (an empty value removes the key); any other path, `labels` included, is InvalidArgument
 *    `cannot update "<path>" field`. Setting a label creates a namespace that did not exist.
 *  - delete refuses while images, blobs, containers or snapshots remain; leases and ingests
 *    are deleted with the namespace.
 *  - events go out after the change commits: create and update carry the caller's namespace,
 *    delete the deleted one's; their labels are the request's, as sent.
 *  One difference: an oversized label in update is InvalidArgument here; containerd sends the
 *  same message with code Unknown there (a missing errdefs.ToGRPC). */
import {
  create as createMessage,
  type DescMessage,
  type MessageInitShape,
  toBinary,
} from "@bufbuild/protobuf";
import { Code, fromStatus } from "@bunkerd/plugin-api";
import {
  NamespaceCreateSchema,
  NamespaceDeleteSchema,
  NamespaceUpdateSchema,
} from "@bunkerd/proto/containerd/events/namespace_pb.ts";
import { type MetadataDb, read, write } from "../../plugins/metadata/db.ts";
import {
  createNamespace,
  deleteNamespace,
  listNamespaces,
  type Namespace,
  namespaceLabels,
  setNamespaceLabel,
} from "../../plugins/metadata/namespaces.ts";
import type { Labels } from "../../plugins/metadata/schema.ts";

export type { Namespace };

/** An event ready for containerd's envelope: `typeName` becomes the `Any`'s bare type URL
 *  (`containerd.events.NamespaceCreate`), `bytes` its value. */
export type EncodedEvent = { typeName: string; bytes: Uint8Array };

/** Hands an event to the exchange. `namespace` is the envelope's namespace. A rejection reaches
 *  the caller, whose change has already committed (as in containerd). */
export type Publish = (topic: string, namespace: string, event: EncodedEvent) => void | Promise<void>;

/** The caller's side of a request: `namespace` is its `containerd-namespace` header, which
 *  containerd puts on create and update events. Without it we use the namespace's own name. */
export type CallOptions = { namespace?: string };

export const NamespaceTopic = {
  create: "/namespaces/create",
  update: "/namespaces/update",
  delete: "/namespaces/delete",
} as const;

export class NamespacesLocal {
  constructor(
    private readonly db: MetadataDb,
    private readonly publish: Publish,
  ) {}

  /** The namespace and its labels; one that does not exist has none (see the header). */
  async get(name: string): Promise<Namespace> {
    const labels = read(this.db, (tx) => namespaceLabels(tx, name));
    return { name, labels: labels ?? {} };
  }

  async list(): Promise<Namespace[]> {
    return read(this.db, (tx) => listNamespaces(tx));
  }

  /** Creates the namespace and answers with the request's namespace, as containerd does. */
  async create(name: string, labels: Labels = {}, opts: CallOptions = {}): Promise<Namespace> {
    write(this.db, (tx) => createNamespace(tx, name, labels));
    await this.emit(NamespaceTopic.create, opts.namespace ?? name, NamespaceCreateSchema, { name, labels });
    return { name, labels };
  }

  /** Updates the labels (see the header for the mask) and answers with the labels now stored.
   *  Everything the request asks is applied, or nothing is. */
  async update(name: string, labels: Labels = {}, updateMask: string[] = [], opts: CallOptions = {}) {
    const stored = write(this.db, (tx) => {
      const now = new Date();
      if (updateMask.length > 0) {
        for (const path of updateMask) {
          if (!path.startsWith("labels.")) {
            // containerd builds this one with status.Errorf: no ": invalid argument" suffix.
            throw fromStatus(Code.InvalidArgument, `cannot update "${path}" field`);
          }
          const key = path.slice("labels.".length);
          setNamespaceLabel(tx, name, key, Object.hasOwn(labels, key) ? labels[key]! : "", now);
        }
      } else {
        for (const key of Object.keys(namespaceLabels(tx, name) ?? {}))
          setNamespaceLabel(tx, name, key, "", now);
        for (const [key, value] of Object.entries(labels)) setNamespaceLabel(tx, name, key, value, now);
      }
      return namespaceLabels(tx, name);
    });
    await this.emit(NamespaceTopic.update, opts.namespace ?? name, NamespaceUpdateSchema, { name, labels });
    return { name, labels: stored ?? {} } satisfies Namespace;
  }

  /** Deletes an empty namespace (FailedPrecondition naming what it still holds). */
  async delete(name: string): Promise<void> {
    write(this.db, (tx) => deleteNamespace(tx, name));
    await this.emit(NamespaceTopic.delete, name, NamespaceDeleteSchema, { name });
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
