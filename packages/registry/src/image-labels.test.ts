import { expect, test } from "bun:test";
import { MediaType } from "./media-types.ts";
import { chainId, chainIds } from "./chainid.ts";
import { appendSource, childrenLabels, distributionSource, refKey } from "./image-labels.ts";

const d = (mediaType: string, n: number, annotations?: Record<string, string>) => ({
  mediaType,
  digest: `sha256:${String(n).repeat(64).slice(0, 64)}`,
  size: n,
  ...(annotations ? { annotations } : {}),
});

test("ref keys name the kind, and the ref name annotation when there is one", () => {
  expect(refKey(d(MediaType.OciManifest, 1))).toBe(`manifest-${d(MediaType.OciManifest, 1).digest}`);
  expect(refKey(d(MediaType.DockerManifestList, 2))).toStartWith("index-sha256:2222");
  expect(refKey(d(MediaType.DockerLayerGzip, 3))).toStartWith("layer-sha256:3333");
  expect(refKey(d(MediaType.OciConfig, 4))).toStartWith("config-sha256:4444");
  expect(refKey(d("application/x-other", 5))).toStartWith("unknown-sha256:5555");
  const named = d(MediaType.OciManifest, 6, { "org.opencontainers.image.ref.name": "v1" });
  expect(refKey(named)).toBe(`manifest-v1@${named.digest}`);
});

test("children labels are numbered per kind, as containerd's ChildGCLabels", () => {
  const config = d(MediaType.OciConfig, 1);
  const layers = [d(MediaType.OciLayerGzip, 2), d(MediaType.OciLayerGzip, 3)];
  expect(childrenLabels([config, ...layers])).toEqual({
    "containerd.io/gc.ref.content.config": config.digest,
    "containerd.io/gc.ref.content.l.0": layers[0]!.digest,
    "containerd.io/gc.ref.content.l.1": layers[1]!.digest,
  });
  const m = [d(MediaType.OciManifest, 4), d(MediaType.DockerManifest, 5), d(MediaType.OciIndex, 6)];
  expect(childrenLabels(m)).toEqual({
    "containerd.io/gc.ref.content.m.0": m[0]!.digest,
    "containerd.io/gc.ref.content.m.1": m[1]!.digest,
    "containerd.io/gc.ref.content.0": m[2]!.digest,
  });
  // A second config (no trailing dot) is numbered from its second use.
  expect(Object.keys(childrenLabels([config, d(MediaType.DockerConfig, 7)]))).toEqual([
    "containerd.io/gc.ref.content.config",
    "containerd.io/gc.ref.content.config1",
  ]);
});

test("the distribution source is the host without port and the repository; values form a sorted set", () => {
  expect(distributionSource("127.0.0.1:5000/test/hard:v1")).toEqual({
    key: "containerd.io/distribution.source.127.0.0.1",
    repository: "test/hard",
  });
  expect(distributionSource(`docker.io/library/busybox@sha256:${"a".repeat(64)}`)).toEqual({
    key: "containerd.io/distribution.source.docker.io",
    repository: "library/busybox",
  });
  expect(distributionSource("[::1]:5000/x/y:z").key).toBe("containerd.io/distribution.source.::1");
  expect(appendSource(undefined, "b/c")).toBe("b/c");
  expect(appendSource("b/c", "a/x")).toBe("a/x,b/c");
  expect(appendSource("a/x,b/c", "b/c")).toBe("a/x,b/c");
});

test("chain IDs: the first is the diffID, then sha256 of '<parent> <diffID>'", () => {
  const a = `sha256:${"a".repeat(64)}`;
  const b = `sha256:${"b".repeat(64)}`;
  const ab = `sha256:${new Bun.CryptoHasher("sha256").update(`${a} ${b}`).digest("hex")}`;
  expect(chainIds([a, b])).toEqual([a, ab]);
  expect(chainId([a, b])).toBe(ab);
  expect(chainId([])).toBe("");
  // containerd names the same snapshots: test/images/transfer-pull.test.ts compares them.
});
