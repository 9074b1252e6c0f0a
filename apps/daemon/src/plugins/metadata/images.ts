/** The image store: containerd 1.6's `metadata/images.go` over SQLite. Each function works inside
 *  a transaction the caller holds (`write`/`read` in db.ts).
 *
 *  What containerd 1.6.20 does, and so we do (each point checked against the real daemon):
 *  - names are not parsed as references: any non-empty string names an image.
 *  - create and update validate the whole image (name, labels, then the target's digest, size and
 *    media type) before touching the store; create then refuses a name in use.
 *  - the target's annotations are kept with the image, and filters and update masks reach them.
 *  - labels and annotations with an empty value are not stored: that is how one is removed.
 *  - creating an image creates its namespace; reading from a namespace that does not exist finds
 *    nothing. */
import {
  alreadyExists,
  type Conjunction,
  type FieldLookup,
  invalidArgument,
  matchFilters,
  notFound,
} from "@bunkerd/plugin-api";
import { and, asc, eq } from "drizzle-orm";
import type { MetadataTx } from "./db.ts";
import { ensureNamespace } from "./namespaces.ts";
import { images, type Labels } from "./schema.ts";
import { digestProblem, goQuote, storedLabels, validateLabels } from "./validate.ts";

/** An image's target: the descriptor of its manifest or index. */
export type ImageTarget = { mediaType: string; digest: string; size: number; annotations: Labels };

export type Image = {
  name: string;
  labels: Labels;
  target: ImageTarget;
  createdAt: Date;
  updatedAt: Date;
};

/** An image as a request gives it: anything may be missing; validation says what is wrong. */
export type ImageInput = {
  name: string;
  labels?: Labels;
  target?: Partial<ImageTarget>;
};

const row = {
  name: images.name,
  labels: images.labels,
  mediaType: images.targetMediaType,
  digest: images.targetDigest,
  size: images.targetSize,
  annotations: images.targetAnnotations,
  createdAt: images.createdAt,
  updatedAt: images.updatedAt,
};
type Row = { [K in keyof typeof row]: (typeof row)[K]["_"]["data"] };

const toImage = (r: Row): Image => ({
  name: r.name,
  labels: r.labels,
  target: { mediaType: r.mediaType, digest: r.digest, size: r.size, annotations: r.annotations },
  createdAt: r.createdAt,
  updatedAt: r.updatedAt,
});

/** The image, or undefined. */
export function findImage(tx: MetadataTx, namespace: string, name: string): Image | undefined {
  const r = tx
    .select(row)
    .from(images)
    .where(and(eq(images.namespace, namespace), eq(images.name, name)))
    .get();
  return r && toImage(r);
}

/** The image, or NotFound `image "<name>": not found`. */
export function getImage(tx: MetadataTx, namespace: string, name: string): Image {
  const image = findImage(tx, namespace, name);
  if (!image) throw notFound(`image ${goQuote(name)}`);
  return image;
}

/** The namespace's images that match any of the filters (all of them without filters), by name
 *  byte by byte, as bolt orders its keys. */
export function listImages(tx: MetadataTx, namespace: string, filters: Conjunction[] = []): Image[] {
  return tx
    .select(row)
    .from(images)
    .where(eq(images.namespace, namespace))
    .orderBy(asc(images.name))
    .all()
    .map(toImage)
    .filter((image) => matchFilters(filters, imageFields(image)));
}

/** containerd's adaptImage: the fields a filter can name. `target.size` is not one of them. */
export function imageFields(image: Image): FieldLookup {
  return ([field, ...rest]) => {
    switch (field) {
      case "name":
        return image.name;
      case "target":
        if (rest.length === 1 && rest[0] === "digest") return image.target.digest;
        if (rest.length === 1 && rest[0] === "mediatype") return image.target.mediaType;
        return undefined;
      case "labels":
        return mapField(image.labels, rest);
      case "annotations":
        return mapField(image.target.annotations, rest);
      default:
        return undefined;
    }
  };
}

/** checkMap: the rest of the path, joined with dots, is the key. */
export const mapField = (m: Labels, path: string[]): string | undefined => {
  const key = path.join(".");
  return Object.hasOwn(m, key) ? m[key] : undefined;
};

/** validateImage, with containerd's messages, in its order. */
export function validateImage(image: ImageInput): void {
  if (image.name === "") throw invalidArgument("image name must not be empty");
  validateLabels("image.Labels", image.labels ?? {});
  const digest = image.target?.digest ?? "";
  const problem = digestProblem(digest);
  if (problem) throw invalidArgument(`Target.Digest ${goQuote(digest)} invalid: ${problem}`);
  if (!((image.target?.size ?? 0) > 0)) throw invalidArgument("Target.Size must be greater than zero");
  if (!image.target?.mediaType) throw invalidArgument("Target.MediaType must be set");
}

/** Creates the image (and its namespace), or AlreadyExists `image "<name>": already exists`. */
export function createImage(tx: MetadataTx, namespace: string, input: ImageInput, now = new Date()): Image {
  validateImage(input);
  ensureNamespace(tx, namespace, now);
  if (findImage(tx, namespace, input.name)) throw alreadyExists(`image ${goQuote(input.name)}`);
  const image: Image = { ...stored(input), createdAt: now, updatedAt: now };
  tx.insert(images)
    .values({ namespace, ...columns(image), createdAt: now, updatedAt: now })
    .run();
  return image;
}

/** Updates the image. Without field paths the request replaces it (name and creation time
 *  excepted); with them, each path is one of `labels`, `labels.<key>`, `target` (replaced as a
 *  whole), `annotations` or `annotations.<key>`; any other is InvalidArgument
 *  `cannot update "<path>" field on image "<name>"`. The result must still be a valid image. */
export function updateImage(
  tx: MetadataTx,
  namespace: string,
  input: ImageInput,
  fieldpaths: string[] = [],
  now = new Date(),
): Image {
  if (input.name === "") throw invalidArgument("image name is required for update");
  const current = getImage(tx, namespace, input.name);
  let next: ImageInput;
  if (fieldpaths.length === 0) {
    next = input;
  } else {
    const labels = new Map(Object.entries(current.labels));
    let annotations = new Map(Object.entries(current.target.annotations));
    let target: Partial<ImageTarget> = current.target;
    for (const path of fieldpaths) {
      if (path.startsWith("labels.")) {
        const key = path.slice("labels.".length);
        labels.set(key, labelValue(input.labels, key));
        continue;
      }
      if (path.startsWith("annotations.")) {
        const key = path.slice("annotations.".length);
        annotations.set(key, labelValue(input.target?.annotations, key));
        continue;
      }
      switch (path) {
        case "labels":
          labels.clear();
          for (const [k, v] of Object.entries(input.labels ?? {})) labels.set(k, v);
          break;
        case "target":
          target = input.target ?? {};
          annotations = new Map(Object.entries(input.target?.annotations ?? {}));
          break;
        case "annotations":
          annotations = new Map(Object.entries(input.target?.annotations ?? {}));
          break;
        default:
          throw invalidArgument(`cannot update ${goQuote(path)} field on image ${goQuote(input.name)}`);
      }
    }
    next = {
      name: input.name,
      labels: Object.fromEntries(labels),
      target: { ...target, annotations: Object.fromEntries(annotations) },
    };
  }
  validateImage(next);
  const image: Image = { ...stored(next), createdAt: current.createdAt, updatedAt: now };
  tx.update(images)
    .set({ ...columns(image), updatedAt: now })
    .where(and(eq(images.namespace, namespace), eq(images.name, input.name)))
    .run();
  return image;
}

/** Deletes the image record, or NotFound `image "<name>": not found`. What it referenced is left
 *  for the garbage collector. */
export function deleteImage(tx: MetadataTx, namespace: string, name: string): void {
  const deleted = tx
    .delete(images)
    .where(and(eq(images.namespace, namespace), eq(images.name, name)))
    .returning({ name: images.name })
    .all();
  if (deleted.length === 0) throw notFound(`image ${goQuote(name)}`);
}

const labelValue = (m: Labels | undefined, key: string) => (m && Object.hasOwn(m, key) ? m[key]! : "");

/** A validated input as it is stored: empty labels and annotations dropped. */
function stored(input: ImageInput): Omit<Image, "createdAt" | "updatedAt"> {
  return {
    name: input.name,
    labels: storedLabels(input.labels, `writing labels for image ${input.name}`),
    target: {
      mediaType: input.target?.mediaType ?? "",
      digest: input.target?.digest ?? "",
      size: input.target?.size ?? 0,
      annotations: storedLabels(input.target?.annotations, `writing Annotations for image ${input.name}`),
    },
  };
}

const columns = (image: Omit<Image, "createdAt" | "updatedAt">) => ({
  name: image.name,
  labels: image.labels,
  targetMediaType: image.target.mediaType,
  targetDigest: image.target.digest,
  targetSize: image.target.size,
  targetAnnotations: image.target.annotations,
});
