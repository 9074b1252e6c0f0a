import { expect, test } from "bun:test";
import { childrenLabels, distributionSource } from "./labels.ts";
import { chainIds } from "./walk.ts";

const d = (mediaType: string, n: number) => ({
  mediaType,
  digest: `sha256:${String(n).repeat(64)}`,
  size: 1,
});

test("children labels are numbered per kind, as containerd's ChildGCLabels", () => {
  expect(
    childrenLabels([
      d("application/vnd.oci.image.config.v1+json", 1),
      d("application/vnd.oci.image.layer.v1.tar+gzip", 2),
      d("application/vnd.oci.image.layer.v1.tar+gzip", 3),
    ]),
  ).toEqual({
    "containerd.io/gc.ref.content.config": d("", 1).digest,
    "containerd.io/gc.ref.content.l.0": d("", 2).digest,
    "containerd.io/gc.ref.content.l.1": d("", 3).digest,
  });
});

test("distribution source: the host without its port", () => {
  expect(distributionSource("127.0.0.1:5000/library/busybox:1")).toEqual({
    "containerd.io/distribution.source.127.0.0.1": "library/busybox",
  });
});

test("chain IDs: the first is the diff ID, each next hashes the previous and the diff ID", () => {
  const a = `sha256:${"a".repeat(64)}`;
  const b = `sha256:${"b".repeat(64)}`;
  const second = `sha256:${new Bun.CryptoHasher("sha256").update(`${a} ${b}`).digest("hex")}`;
  expect(chainIds([a, b])).toEqual([a, second]);
});
