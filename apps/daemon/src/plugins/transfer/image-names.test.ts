import { expect, test } from "bun:test";
import { Kind } from "@bunkerd/plugin-api";
import { REF_SOURCE, refTranslator, storeNames, withoutRefSource } from "./image-names.ts";
import type { ImageReference, ImageStoreTarget } from "./types.ts";

const D = `sha256:${"a".repeat(64)}`;
const store = (name: string, refs: Partial<ImageReference>[] = []): ImageStoreTarget => ({
  kind: "image-store",
  name,
  labels: {},
  platforms: [],
  allMetadata: false,
  manifestLimit: 0,
  unpacks: [],
  extraReferences: refs.map((r) => ({
    name: "",
    isPrefix: false,
    allowOverwrite: false,
    addDigest: false,
    skipNamedDigest: false,
    ...r,
  })),
});
const entry = (annotations: Record<string, string>) => ({
  mediaType: "application/vnd.oci.image.manifest.v1+json",
  digest: D,
  size: 1,
  annotations: { ...annotations, [REF_SOURCE]: "annotation" },
});

test("containerd's refTranslator: tags get the prefix; full names pass, checked against it when asked", () => {
  expect(refTranslator("example.com/app", true)("v1")).toBe("example.com/app:v1");
  expect(refTranslator("example.com/app", true)("example.com/app:v2")).toBe("example.com/app:v2");
  expect(refTranslator("example.com/app", true)("example.com/apple:v2")).toBe("");
  expect(refTranslator("example.com/app", false)("docker.io/other:v3")).toBe("docker.io/other:v3");
});

test.each([
  // [what, store, annotations, names]
  [
    "tag under a prefix",
    store("", [{ name: "ex/app", isPrefix: true }]),
    { "org.opencontainers.image.ref.name": "v1" },
    ["ex/app:v1"],
  ],
  [
    "full name outside the prefix is skipped unless overwrite is allowed",
    store("", [{ name: "ex/app", isPrefix: true }]),
    { "io.containerd.image.name": "docker.io/library/x:1" },
    "not found",
  ],
  [
    "ctr's default prefix allows overwrite",
    store("", [{ name: "import-2026-01-01", isPrefix: true, allowOverwrite: true }]),
    { "io.containerd.image.name": "docker.io/library/x:1" },
    ["docker.io/library/x:1"],
  ],
  [
    "--digests adds prefix@digest, also when no name resolves",
    store("", [{ name: "ex/app", isPrefix: true, addDigest: true }]),
    {},
    [`ex/app@${D}`],
  ],
  [
    "--digests with a name gives both, unless skip_named_digest",
    store("", [{ name: "ex/app", isPrefix: true, addDigest: true }]),
    { "org.opencontainers.image.ref.name": "v1" },
    ["ex/app:v1", `ex/app@${D}`],
  ],
  [
    "skip_named_digest",
    store("", [{ name: "ex/app", isPrefix: true, addDigest: true, skipNamedDigest: true }]),
    { "org.opencontainers.image.ref.name": "v1" },
    ["ex/app:v1"],
  ],
] as const)("%s", (_what, target, annotations, want) => {
  const run = () => storeNames(target, entry(annotations));
  if (want === "not found") expect(run).toThrow(expect.objectContaining({ kind: Kind.NotFound }));
  else expect(run()).toEqual([...want]);
});

test("without the import marker: the store's name (index_name) and complete references", () => {
  const d = { mediaType: "m", digest: D, size: 1 };
  expect(
    storeNames(
      store("idx:1", [{ name: "also:2" }, { name: "pre", isPrefix: true }, { name: "dig", addDigest: true }]),
      d,
    ),
  ).toEqual(["idx:1", "also:2", `dig@${D}`]);
  expect(() => storeNames(store(""), d)).toThrow("no image name found");
  expect(() => storeNames(store("x"), { ...d, annotations: { [REF_SOURCE]: "elsewhere" } })).toThrow(
    "ref source not supported",
  );
  expect(withoutRefSource(entry({ a: "b" })).annotations).toEqual({ a: "b" });
});
