/** The container store: containerd 1.6's `metadata/containers.go` over SQLite. Each function works
 *  inside a transaction the caller holds (`write`/`read` in db.ts).
 *
 *  What containerd does, and so we do:
 *  - create and update validate the whole record, in containerd's order and words: the ID (an
 *    identifier), extension names (not empty), labels (size), runtime name (required), spec
 *    (required), snapshotter (required when there is a snapshot key). Create prefixes the reason
 *    with `create container failed validation: `, update with `update failed validation: `.
 *  - labels with an empty value are not stored (that is how one is removed); an empty key with a
 *    value is Unknown `failed to write container "<id>": failed to set label ""="v": key required`.
 *  - update without a mask replaces labels, spec, extensions, image and snapshot key, and refuses
 *    a different snapshotter or runtime name (`container.Snapshotter field is immutable`); with a
 *    mask, the paths are `labels`, `labels.<key>`, `spec`, `extensions`, `extensions.<key>`,
 *    `image` and `snapshotkey`. Anything else, `runtime` and `snapshotter` included, is
 *    InvalidArgument `cannot update "<path>" field on "<id>"`.
 *  - creating a container creates its namespace; reading from a namespace that does not exist
 *    finds nothing. A container is a garbage-collection root for its snapshot and its labels'
 *    references (plugins/gc/mark.ts); deleting it leaves them for the collector.
 *
 *  Two differences, both where bolt's layout shows through:
 *  - containerd's update and delete say `cannot update/delete container "x" in namespace "ns"`
 *    when the namespace's containers bucket was never made, `container "x"` (delete: unquoted)
 *    otherwise. There is no bucket here: the first wording is used while the namespace holds no
 *    container. The kind, NotFound, is the same.
 *  - bolt merges extensions into the stored ones, so containerd never removes one. Here `extensions`
 *    replaces them all and an `extensions.<key>` path the request lacks removes that one, as labels
 *    do. */
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { AnySchema } from "@bufbuild/protobuf/wkt";
import {
  alreadyExists,
  BunkerError,
  type Conjunction,
  type FieldLookup,
  invalidArgument,
  matchFilters,
  notFound,
  validateIdentifier,
} from "@bunkerd/plugin-api";
import { and, asc, eq, sql } from "drizzle-orm";
import type { MetadataTx } from "./db.ts";
import { mapField } from "./images.ts";
import { ensureNamespace } from "./namespaces.ts";
import { type ContainerExtension, containers, type Labels } from "./schema.ts";
import { goQuote, storedLabels, validateLabels } from "./validate.ts";

/** A protobuf `Any` kept as its type URL and raw bytes, exactly as the client sent it. */
export type AnyValue = { typeUrl: string; value: Uint8Array };

export type ContainerRecord = {
  id: string;
  labels: Labels;
  image: string;
  runtime: { name: string; options?: AnyValue };
  spec?: AnyValue;
  snapshotter: string;
  snapshotKey: string;
  createdAt: Date;
  updatedAt: Date;
  extensions: Record<string, AnyValue>;
  sandbox: string;
};

/** A container as a request gives it: the ID and whatever else it sets. */
export type ContainerInput = Partial<Omit<ContainerRecord, "id" | "createdAt" | "updatedAt">> & {
  id: string;
};

type Row = typeof containers.$inferSelect;

const anyBytes = (a: AnyValue) => Buffer.from(toBinary(AnySchema, create(AnySchema, a)));
const anyOf = (b: Uint8Array): AnyValue => {
  const { typeUrl, value } = fromBinary(AnySchema, b);
  return { typeUrl, value };
};

function toRecord(r: Row): ContainerRecord {
  const extensions = new Map<string, AnyValue>();
  for (const [name, e] of Object.entries(r.extensions)) {
    extensions.set(name, { typeUrl: e.typeUrl, value: new Uint8Array(Buffer.from(e.value, "base64")) });
  }
  return {
    id: r.id,
    labels: r.labels,
    image: r.image,
    runtime: r.runtimeOptions
      ? { name: r.runtimeName, options: anyOf(r.runtimeOptions) }
      : { name: r.runtimeName },
    spec: anyOf(r.spec),
    snapshotter: r.snapshotter,
    snapshotKey: r.snapshotKey,
    createdAt: r.createdAt,
    updatedAt: r.updatedAt,
    extensions: Object.fromEntries(extensions),
    sandbox: r.sandbox,
  };
}

const where = (namespace: string, id: string) =>
  and(eq(containers.namespace, namespace), eq(containers.id, id));

/** The container, or undefined. */
export function findContainer(tx: MetadataTx, namespace: string, id: string): ContainerRecord | undefined {
  const r = tx.select().from(containers).where(where(namespace, id)).get();
  return r && toRecord(r);
}

/** The container, or NotFound `container "<id>" in namespace "<ns>": not found`. */
export function getContainer(tx: MetadataTx, namespace: string, id: string): ContainerRecord {
  const c = findContainer(tx, namespace, id);
  if (!c) throw notFound(`container ${goQuote(id)} in namespace ${goQuote(namespace)}`);
  return c;
}

/** The namespace's containers that match any of the filters (all without filters), by ID byte by
 *  byte, as bolt orders its keys. */
export function listContainers(
  tx: MetadataTx,
  namespace: string,
  filters: Conjunction[] = [],
): ContainerRecord[] {
  return tx
    .select()
    .from(containers)
    .where(eq(containers.namespace, namespace))
    .orderBy(asc(containers.id))
    .all()
    .map(toRecord)
    .filter((c) => matchFilters(filters, containerFields(c)));
}

/** containerd's adaptContainer: `id`, `image`, `runtime.name` and `labels.<key>`; an empty value
 *  counts as absent. */
export function containerFields(c: ContainerRecord): FieldLookup {
  const present = (v: string) => (v === "" ? undefined : v);
  return ([field, ...rest]) => {
    switch (field) {
      case "id":
        return present(c.id);
      case "image":
        return present(c.image);
      case "runtime":
        return rest.length >= 1 && rest[0] === "name" ? present(c.runtime.name) : undefined;
      case "labels":
        return Object.keys(c.labels).length === 0 ? undefined : mapField(c.labels, rest);
      default:
        return undefined;
    }
  };
}

/** containerd's validateContainer: the first problem, InvalidArgument, in its words. */
export function containerProblem(c: ContainerInput): BunkerError | undefined {
  try {
    validateIdentifier(c.id);
  } catch (e) {
    const err = e as BunkerError;
    return new BunkerError(err.kind, `container.ID: ${err.subject}`);
  }
  for (const name of Object.keys(c.extensions ?? {})) {
    if (name === "") return invalidArgument("container.Extension keys must not be zero-length");
  }
  try {
    validateLabels("containers.Labels", c.labels ?? {});
  } catch (e) {
    return e as BunkerError;
  }
  if (!c.runtime?.name) return invalidArgument("container.Runtime.Name must be set");
  if (!c.spec) return invalidArgument("container.Spec must be set");
  if (c.snapshotKey && !c.snapshotter) {
    return invalidArgument("container.Snapshotter must be set if container.SnapshotKey is set");
  }
  return undefined;
}

const prefixed = (prefix: string, e: BunkerError) => new BunkerError(e.kind, `${prefix}: ${e.subject}`);

/** Creates the container (and its namespace), or AlreadyExists `container "<id>": already exists`. */
export function createContainer(
  tx: MetadataTx,
  namespace: string,
  input: ContainerInput,
  now = new Date(),
): ContainerRecord {
  const problem = containerProblem(input);
  if (problem) throw prefixed("create container failed validation", problem);
  ensureNamespace(tx, namespace, now);
  if (findContainer(tx, namespace, input.id)) throw alreadyExists(`container ${goQuote(input.id)}`);
  const c = stored(input, now, now);
  tx.insert(containers)
    .values({ namespace, ...columns(c) })
    .run();
  return c;
}

/** The fields a full replace (no mask) takes from the request. */
const REPLACED = ["labels", "spec", "extensions", "image", "snapshotkey"];

/** Updates the container: with `fieldpaths` (see the header) only those, without them the mutable
 *  fields. The result must still be a valid container; all of the request applies, or none. */
export function updateContainer(
  tx: MetadataTx,
  namespace: string,
  input: ContainerInput,
  fieldpaths: string[] = [],
  now = new Date(),
): ContainerRecord {
  if (input.id === "") throw invalidArgument("must specify a container id");
  const current = findContainer(tx, namespace, input.id);
  if (!current) {
    throw hasContainers(tx, namespace)
      ? notFound(`container ${goQuote(input.id)}`)
      : notFound(`cannot update container ${goQuote(input.id)} in namespace ${goQuote(namespace)}`);
  }
  let paths = fieldpaths;
  if (paths.length === 0) {
    paths = REPLACED;
    // Immutable fields refuse a change rather than ignore it, so they can become mutable later.
    if (current.snapshotter !== (input.snapshotter ?? "")) {
      throw invalidArgument("container.Snapshotter field is immutable");
    }
    if (current.runtime.name !== (input.runtime?.name ?? "")) {
      throw invalidArgument("container.Runtime.Name field is immutable");
    }
  }
  const labels = new Map(Object.entries(current.labels));
  let extensions = new Map(Object.entries(current.extensions));
  const next: ContainerRecord = { ...current };
  for (const path of paths) {
    if (path.startsWith("labels.")) {
      const key = path.slice("labels.".length);
      labels.set(key, input.labels && Object.hasOwn(input.labels, key) ? input.labels[key]! : "");
      continue;
    }
    if (path.startsWith("extensions.")) {
      const key = path.slice("extensions.".length);
      const ext =
        input.extensions && Object.hasOwn(input.extensions, key) ? input.extensions[key] : undefined;
      if (ext) extensions.set(key, ext);
      else extensions.delete(key);
      continue;
    }
    switch (path) {
      case "labels":
        labels.clear();
        for (const [k, v] of Object.entries(input.labels ?? {})) labels.set(k, v);
        break;
      case "spec":
        next.spec = input.spec;
        break;
      case "extensions":
        extensions = new Map(Object.entries(input.extensions ?? {}));
        break;
      case "image":
        next.image = input.image ?? "";
        break;
      case "snapshotkey":
        next.snapshotKey = input.snapshotKey ?? "";
        break;
      default:
        throw invalidArgument(`cannot update ${goQuote(path)} field on ${goQuote(input.id)}`);
    }
  }
  next.labels = Object.fromEntries(labels);
  next.extensions = Object.fromEntries(extensions);
  const problem = containerProblem(next);
  if (problem) throw prefixed("update failed validation", problem);
  const c = stored(next, current.createdAt, now);
  tx.update(containers).set(columns(c)).where(where(namespace, input.id)).run();
  return c;
}

/** Deletes the container record. What it referenced is left for the garbage collector. */
export function deleteContainer(tx: MetadataTx, namespace: string, id: string): void {
  const deleted = tx.delete(containers).where(where(namespace, id)).returning({ id: containers.id }).all();
  if (deleted.length > 0) return;
  throw hasContainers(tx, namespace)
    ? notFound(`container ${id}`)
    : notFound(`cannot delete container ${goQuote(id)} in namespace ${goQuote(namespace)}`);
}

const hasContainers = (tx: MetadataTx, namespace: string) =>
  tx.select({ one: sql`1` }).from(containers).where(eq(containers.namespace, namespace)).limit(1).get() !==
  undefined;

/** A validated input as it is stored: labels with empty values dropped. */
function stored(input: ContainerInput, createdAt: Date, updatedAt: Date): ContainerRecord {
  const runtime = input.runtime ?? { name: "" };
  return {
    id: input.id,
    labels: storedLabels(input.labels, `failed to write container ${goQuote(input.id)}`),
    image: input.image ?? "",
    runtime: runtime.options ? { name: runtime.name, options: runtime.options } : { name: runtime.name },
    spec: input.spec,
    snapshotter: input.snapshotter ?? "",
    snapshotKey: input.snapshotKey ?? "",
    createdAt,
    updatedAt,
    extensions: { ...input.extensions },
    sandbox: input.sandbox ?? "",
  };
}

function columns(c: ContainerRecord) {
  const extensions = new Map<string, ContainerExtension>();
  for (const [name, e] of Object.entries(c.extensions)) {
    extensions.set(name, { typeUrl: e.typeUrl, value: Buffer.from(e.value).toString("base64") });
  }
  return {
    id: c.id,
    labels: c.labels,
    image: c.image,
    runtimeName: c.runtime.name,
    runtimeOptions: c.runtime.options ? anyBytes(c.runtime.options) : null,
    // Validation makes sure there is one.
    spec: anyBytes(c.spec ?? { typeUrl: "", value: new Uint8Array() }),
    snapshotter: c.snapshotter,
    snapshotKey: c.snapshotKey,
    extensions: Object.fromEntries(extensions),
    sandbox: c.sandbox,
    createdAt: c.createdAt,
    updatedAt: c.updatedAt,
  };
}
