import { afterAll, afterEach, expect, test } from "bun:test";
import { gzipSync } from "node:zlib";
import { cleanName, readArchive } from "./archive-read.ts";
import { header, padding, trailer } from "./tar-writer.ts";
import { memoryServices, removeMemoryStores } from "./testkit.ts";

afterAll(removeMemoryStores);

const enc = (s: string) => new TextEncoder().encode(s);
const sha = (b: Uint8Array) => `sha256:${new Bun.CryptoHasher("sha256").update(b).digest("hex")}`;
function tar(entries: [string, Uint8Array][]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const [n, b] of entries)
    parts.push(header(n, { size: b.length, mode: 0o644, type: "file" }), b, padding(b.length));
  return Buffer.concat([...parts, trailer()]);
}
async function* once(b: Uint8Array) {
  yield b;
}

let s = memoryServices();
afterEach(() => {
  s.dispose();
  s = memoryServices();
});

test("names are cleaned as Go's path.Clean does; absolute and climbing names are refused", () => {
  expect(cleanName("./blobs//sha256/./x")).toBe("blobs/sha256/x");
  expect(cleanName("manifest.json")).toBe("manifest.json");
  expect(() => cleanName("a/../../b")).toThrow("path escapes the archive");
  expect(() => cleanName("/abs")).toThrow("absolute path");
});

test("blobs are stored by name, docker members by computed digest; other files are skipped unread", async () => {
  const blob = enc("blob bytes");
  const cfg = enc('{"os":"linux"}');
  const archive = gzipSync(
    tar([
      [`./blobs/sha256/${sha(blob).slice(7)}`, blob],
      ["abc.json", cfg],
      ["README", enc("not content")],
      ["abc/VERSION", enc("1.0")],
      ["manifest.json", enc('[{"Config":"abc.json","RepoTags":null,"Layers":[]}]')],
    ]),
  );
  const out = await readArchive(s.ingest, once(archive), { ns: "default" });
  expect(out.dockerManifests).toEqual([{ Config: "abc.json", RepoTags: [], Layers: [] }]);
  expect(out.files.get(`blobs/sha256/${sha(blob).slice(7)}`)).toEqual({
    digest: sha(blob),
    size: blob.length,
  });
  expect(out.files.get("abc.json")).toEqual({ digest: sha(cfg), size: cfg.length });
  expect([...out.files.keys()]).not.toContain("README");
  const stored = [...(s.content.blobs.get("default")?.keys() ?? [])].sort();
  expect(stored).toEqual([sha(blob), sha(cfg)].sort());
});

test("a malformed manifest.json and an unsupported digest algorithm are refused by name", async () => {
  await expect(
    readArchive(s.ingest, once(tar([["manifest.json", enc('{"a":1}')]])), { ns: "default" }),
  ).rejects.toThrow("manifest.json: must be a list");
  await expect(
    readArchive(s.ingest, once(tar([[`blobs/sha512/${"a".repeat(60)}`, enc("x")]])), { ns: "default" }),
  ).rejects.toThrow("unsupported digest algorithm sha512");
});
