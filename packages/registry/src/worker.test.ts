import { expect, test } from "bun:test";
import { startFakeRegistry } from "./testutil/fake-registry.ts";
import { blobsOf, buildImage } from "./testutil/image.ts";

test("a resolver works inside a worker, with plain data in and out", async () => {
  const image = buildImage({ files: [{ "x.txt": "x" }] });
  const registry = startFakeRegistry({ blobs: blobsOf(image), tags: { v1: image.manifest.desc } });
  const worker = new Worker(new URL("./testutil/resolve-worker.ts", import.meta.url).href);
  try {
    const answer = new Promise<Record<string, unknown>>((resolve) => {
      worker.onmessage = (e) => resolve(e.data);
    });
    worker.postMessage({ ref: `${registry.host}/w/x:v1` });
    expect(await answer).toEqual({
      name: `${registry.host}/w/x:v1`,
      desc: image.manifest.desc,
      digest: image.manifest.desc.digest,
    });
  } finally {
    worker.terminate();
    registry.stop();
  }
});
