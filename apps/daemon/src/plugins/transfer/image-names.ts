/** The names an image store destination gives a descriptor (containerd 1.7's image.Store.Store):
 *  - an index entry of an imported archive (marked `io.containerd.import.ref-source=annotation`)
 *    is named from its annotations through each prefix reference: a full name must start with
 *    the prefix (unless overwrite is allowed), a bare tag is appended to it; with add_digest,
 *    `<prefix>@<digest>` too (or instead, when no name resolved);
 *  - anything else gets the store's name and its complete (non-prefix) references.
 *  No name is NotFound ("no image name found"), which an import passes over. */
import { invalidArgument, notFound } from "@bunkerd/plugin-api";
import type { Descriptor } from "@bunkerd/registry";
import { Annotation } from "./docker-archive.ts";
import type { ImageStoreTarget } from "./types.ts";

export const REF_SOURCE = "io.containerd.import.ref-source";

function isImagePrefix(s: string, prefix: string): boolean {
  if (!s.startsWith(prefix)) return false;
  return s.length === prefix.length || "/:@".includes(s[prefix.length]!);
}

/** containerd's refTranslator: full references pass (when prefixed, if checked), tags get the prefix. */
export function refTranslator(image: string, checkPrefix: boolean): (ref: string) => string {
  return (ref) => {
    if (/[/:@]/.test(ref)) return checkPrefix && !isImagePrefix(ref, image) ? "" : ref;
    return `${image}:${ref}`;
  };
}

function nameFromAnnotations(annotations: Record<string, string>, cleanup: (s: string) => string): string {
  const full = annotations[Annotation.imageName];
  if (full) return cleanup(full) === full ? full : "";
  const ref = annotations[Annotation.refName];
  return ref ? cleanup(ref) : "";
}

/** The names for `desc`; `desc` keeps its annotations but the ref-source marker. */
export function storeNames(target: ImageStoreTarget, desc: Descriptor): string[] {
  const annotations = desc.annotations ?? {};
  const names: string[] = [];
  const source = annotations[REF_SOURCE];
  if (source !== undefined) {
    if (source !== "annotation") throw invalidArgument(`ref source not supported: ${source}`);
    for (const ref of target.extraReferences) {
      if (!ref.isPrefix) continue;
      const name = nameFromAnnotations(annotations, refTranslator(ref.name, !ref.allowOverwrite));
      if (!name) {
        if (ref.addDigest) names.push(`${ref.name}@${desc.digest}`);
        continue;
      }
      names.push(name);
      if (ref.addDigest && !ref.skipNamedDigest) names.push(`${ref.name}@${desc.digest}`);
    }
  } else {
    if (target.name) names.push(target.name);
    for (const ref of target.extraReferences) {
      if (ref.isPrefix) continue;
      names.push(ref.addDigest ? `${ref.name}@${desc.digest}` : ref.name);
    }
  }
  if (names.length === 0) throw notFound("no image name found");
  return [...new Set(names)];
}

/** `desc` without the import marker, as an image's target. */
export function withoutRefSource(desc: Descriptor): Descriptor {
  if (!desc.annotations || !(REF_SOURCE in desc.annotations)) return desc;
  const { [REF_SOURCE]: _, ...rest } = desc.annotations;
  return { ...desc, annotations: rest };
}
