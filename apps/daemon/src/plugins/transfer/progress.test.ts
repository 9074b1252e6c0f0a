import { expect, test } from "bun:test";
import { MediaType } from "@bunkerd/registry";
import { type ProgressEvent, ProgressTracker } from "./progress.ts";

const manifest = { mediaType: MediaType.OciManifest, digest: `sha256:${"1".repeat(64)}`, size: 10 };
const layer = { mediaType: MediaType.OciLayerGzip, digest: `sha256:${"2".repeat(64)}`, size: 1000 };
const config = { mediaType: MediaType.OciConfig, digest: `sha256:${"3".repeat(64)}`, size: 5 };

test("waiting, downloading per tick when the offset moved, complete; already exists", () => {
  const events: ProgressEvent[] = [];
  const t = new ProgressTracker("reg/img:v1", (p) => events.push(p), 1_000_000);
  t.add(manifest);
  t.complete(manifest);
  t.addChildren(manifest, [config, layer]);
  t.add(layer);
  t.add(layer); // announced once
  t.tick(); // nothing moved
  t.update(layer, 400);
  t.tick();
  t.tick(); // nothing new
  t.update(layer, 900);
  t.tick();
  t.complete(layer);
  t.update(layer, 1000);
  t.tick(); // complete: no more
  t.add(config);
  t.exists(config);
  t.complete(config); // already done
  t.stop();
  expect(events.map((e) => [e.event, e.name, e.parents?.join(","), e.progress, e.total])).toEqual([
    ["waiting", `manifest-${manifest.digest}`, "reg/img:v1", 0, 10],
    ["complete", `manifest-${manifest.digest}`, "reg/img:v1", 10, 10],
    ["waiting", `layer-${layer.digest}`, `manifest-${manifest.digest}`, 0, 1000],
    ["downloading", `layer-${layer.digest}`, `manifest-${manifest.digest}`, 400, 1000],
    ["downloading", `layer-${layer.digest}`, `manifest-${manifest.digest}`, 900, 1000],
    ["complete", `layer-${layer.digest}`, `manifest-${manifest.digest}`, 1000, 1000],
    ["waiting", `config-${config.digest}`, `manifest-${manifest.digest}`, 0, 5],
    ["already exists", `config-${config.digest}`, undefined, 5, 5],
  ]);
  expect(events.every((e) => e.desc !== undefined)).toBe(true);
});

test("without a progress function nothing is tracked", () => {
  const t = new ProgressTracker("x", undefined);
  t.add(manifest);
  t.update(manifest, 5);
  t.complete(manifest);
  t.tick();
  t.stop();
});

test("a layer's unpack is reported under its download job's name: unpacking, then unpacked", () => {
  const events: ProgressEvent[] = [];
  const t = new ProgressTracker("reg/img:v1", (p) => events.push(p), 1_000_000);
  t.addChildren(manifest, [config, layer]);
  t.add(layer);
  t.complete(layer);
  t.unpacking(layer);
  t.unpacked(layer);
  t.stop();
  const name = `layer-${layer.digest}`;
  const parents = `manifest-${manifest.digest}`;
  expect(events.map((e) => [e.event, e.name, e.parents?.join(","), e.progress, e.total])).toEqual([
    ["waiting", name, parents, 0, 1000],
    ["complete", name, parents, 1000, 1000],
    ["unpacking", name, parents, 0, 1000],
    ["unpacked", name, parents, 1000, 1000],
  ]);
});
