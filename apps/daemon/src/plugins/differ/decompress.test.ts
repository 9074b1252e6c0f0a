/** Detection by magic bytes, media types, streaming decompression and its failure modes. */
import { afterEach, describe, expect, test } from "bun:test";
import { Kind } from "@bunkerd/plugin-api";
import { defaultMaxUncompressed, detectCompression, openLayer } from "./decompress.ts";
import { diffCompression, MediaType } from "./mediatype.ts";
import { gzip, rm, run, tempDir, writeBlob, zstd } from "./testdata/helpers.ts";
import { ZstdFrameChecker } from "./zstd-frames.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rm(d);
});
const blob = (data: Uint8Array) => {
  const d = tempDir();
  dirs.push(d);
  return writeBlob(d, "blob", data);
};

async function readAll(it: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const c of it) parts.push(c);
  return Buffer.concat(parts);
}

const payload = Buffer.concat([
  Buffer.alloc(2 * 1024 * 1024, 0x41),
  Buffer.from(crypto.getRandomValues(new Uint8Array(65536))),
]);

describe("detectCompression", () => {
  test.each<[string, number[], string]>([
    ["gzip", [0x1f, 0x8b, 0x08, 0], "gzip"],
    ["gzip magic without deflate", [0x1f, 0x8b, 0x07], "none"],
    ["zstd frame", [0x28, 0xb5, 0x2f, 0xfd, 0], "zstd"],
    ["zstd skippable frame", [0x5a, 0x2a, 0x4d, 0x18, 0, 0, 0, 0], "zstd"],
    ["tar", [0x2e, 0x2f, 0, 0, 0, 0, 0, 0], "none"],
    ["empty", [], "none"],
  ])("%s", (_what, bytes, want) => {
    expect(detectCompression(new Uint8Array(bytes))).toBe(want as "none");
  });
});

describe("diffCompression (containerd's images.DiffCompression)", () => {
  test.each<[string, string]>([
    [MediaType.ImageLayer, ""],
    [MediaType.ImageLayerGzip, "gzip"],
    [MediaType.ImageLayerZstd, "zstd"],
    [MediaType.ImageLayerNonDistributable, ""],
    [MediaType.ImageLayerNonDistributableGzip, "gzip"],
    [MediaType.ImageLayerNonDistributableZstd, "zstd"],
    [MediaType.DockerLayer, "unknown"],
    [MediaType.DockerLayerGzip, "gzip"],
    [MediaType.DockerLayerForeign, "unknown"],
    [MediaType.DockerLayerForeignGzip, "gzip"],
    [MediaType.DockerLayerZstd, "zstd"],
  ])("%s → %p", (mt, want) => {
    expect(diffCompression(mt)).toBe(want as "");
  });

  test.each([
    "application/vnd.oci.image.layer.v1.tar+gzip+encrypted",
    "application/vnd.oci.image.config.v1+json",
    "application/octet-stream",
  ])("%s is not implemented", (mt) => {
    expect(() => diffCompression(mt)).toThrow(expect.objectContaining({ kind: Kind.NotImplemented }));
  });
});

describe("openLayer", () => {
  test.each([
    ["gzip", gzip],
    ["zstd", zstd],
    ["none", (b: Uint8Array) => b],
  ] as const)("%s streams back the exact bytes", async (kind, compress) => {
    const layer = openLayer(blob(compress(payload)), { declared: "unknown" });
    expect(layer.compression).toBe(kind);
    expect((await readAll(layer.chunks)).equals(payload)).toBe(true);
  });

  test("a multi-member gzip and a multi-frame zstd with a skippable frame", async () => {
    const a = payload.subarray(0, 100000);
    const b = payload.subarray(100000);
    const gz = Buffer.concat([gzip(a), gzip(b)]);
    expect((await readAll(openLayer(blob(gz), { declared: "gzip" }).chunks)).equals(payload)).toBe(true);
    const skippable = Buffer.from([0x50, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 1, 2, 3]);
    const zs = Buffer.concat([skippable, zstd(a), zstd(b), skippable]);
    const layer = openLayer(blob(zs), { declared: "zstd" });
    expect(layer.compression).toBe("zstd");
    expect((await readAll(layer.chunks)).equals(payload)).toBe(true);
  });

  test("a plain media type is never decompressed, whatever the bytes", async () => {
    const gz = gzip(payload);
    const layer = openLayer(blob(gz), { declared: "" });
    expect(layer.compression).toBe("none");
    expect((await readAll(layer.chunks)).equals(gz)).toBe(true);
  });

  test("a blob whose size differs from the descriptor is refused", () => {
    expect(() => openLayer(blob(payload), { declared: "", compressedSize: 12 })).toThrow(
      expect.objectContaining({ kind: Kind.FailedPrecondition }),
    );
  });

  test("output past the bound is refused as resource exhausted", async () => {
    const layer = openLayer(blob(gzip(payload)), { declared: "gzip", maxUncompressed: 1024 * 1024 });
    await expect(readAll(layer.chunks)).rejects.toMatchObject({ kind: Kind.ResourceExhausted });
    const plain = openLayer(blob(payload), { declared: "", maxUncompressed: 1000 });
    await expect(readAll(plain.chunks)).rejects.toMatchObject({ kind: Kind.ResourceExhausted });
  });

  test("the default bound is generous", () => {
    expect(defaultMaxUncompressed(1000)).toBe(1 << 30);
    expect(defaultMaxUncompressed(100 * 1024 * 1024)).toBe(25600 * 1024 * 1024);
  });

  test("zstd cut at every kind of boundary is reported truncated", async () => {
    const zs = zstd(payload);
    for (const cut of [5, 12, 100, Math.floor(zs.length / 2), zs.length - 1]) {
      const layer = openLayer(blob(zs.subarray(0, cut)), { declared: "zstd" });
      await expect(readAll(layer.chunks)).rejects.toThrow(/zstd stream/);
    }
  });
});

describe("ZstdFrameChecker", () => {
  test("follows frames written by the zstd CLI at several levels, with and without checksums", () => {
    for (const args of [["-1"], ["-19"], ["--no-check"], ["-3", "--content-size"]]) {
      const zs = run(["zstd", "-q", "-c", ...args, "-"], { stdin: payload });
      const c = new ZstdFrameChecker();
      for (let i = 0; i < zs.length; i += 997) c.push(zs.subarray(i, i + 997));
      c.finish();
      expect(c.frames).toBe(1);
    }
  });
});
