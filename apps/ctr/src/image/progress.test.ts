import { expect, test } from "bun:test";
import { create } from "@bufbuild/protobuf";
import { ProgressSchema } from "@bunkerd/proto/containerd/types/transfer/progress_pb.ts";
import { MediaType } from "@bunkerd/registry";
import { ProgressView } from "./progress.ts";
import { viewTransfer } from "./pull.ts";

const layer = { mediaType: MediaType.OciLayerGzip, digest: `sha256:${"2".repeat(64)}`, size: 2048n };
const config = { mediaType: MediaType.OciConfig, digest: `sha256:${"3".repeat(64)}`, size: 5n };
const name = `layer-${layer.digest}`;

/** What the daemon sends for a layer it downloads and unpacks, and a config it downloads. */
const messages = () => [
  create(ProgressSchema, { event: "waiting", name, progress: 0n, total: 2048n, desc: layer }),
  create(ProgressSchema, { event: "downloading", name, progress: 1024n, total: 2048n, desc: layer }),
  create(ProgressSchema, { event: "complete", name, progress: 2048n, total: 2048n, desc: layer }),
  create(ProgressSchema, { event: "unpacking", name, progress: 0n, total: 2048n, desc: layer }),
  create(ProgressSchema, { event: "unpacked", name, progress: 2048n, total: 2048n, desc: layer }),
  create(ProgressSchema, { event: "complete", name: `config-${config.digest}`, total: 5n, desc: config }),
];

/** A stream stand-in that keeps what is written. */
function sink(): NodeJS.WriteStream & { text: () => string } {
  const chunks: string[] = [];
  return Object.assign(Object.create(null), {
    columns: 200,
    write: (s: string) => chunks.push(s) > 0,
    text: () => chunks.join(""),
  });
}

const states = (text: string, row: string) =>
  [...text.matchAll(new RegExp(`^${row}: (\\S+)`, "gm"))].map((m) => m[1]);

test("plain: a daemon-unpacked layer goes waiting, downloading, downloaded, unpacking, done", () => {
  const out = sink();
  const view = new ProgressView(out, false);
  for (const m of messages()) viewTransfer(view, m, true);
  view.finish(true);
  expect(states(out.text(), name)).toEqual(["waiting", "downloading", "downloaded", "unpacking", "done"]);
  // A config is not unpacked: complete is done.
  expect(states(out.text(), `config-${config.digest}`)).toEqual(["done"]);
});

test("plain: without an unpack in the daemon, a layer's complete is done", () => {
  const out = sink();
  const view = new ProgressView(out, false);
  for (const m of messages().slice(0, 3)) viewTransfer(view, m);
  view.finish(true);
  expect(states(out.text(), name)).toEqual(["waiting", "downloading", "done"]);
});

test("plain: a layer left downloaded (its snapshot made by another pull) ends done", () => {
  const out = sink();
  const view = new ProgressView(out, false);
  for (const m of messages().slice(0, 3)) viewTransfer(view, m, true);
  view.finish(true);
  expect(states(out.text(), name)).toEqual(["waiting", "downloading", "downloaded", "done"]);
});

test("TTY: the layer's one line is redrawn in place as unpacking, then done", async () => {
  const out = sink();
  const view = new ProgressView(out, true);
  const [waiting, downloading, complete, unpacking, unpacked] = messages();
  for (const m of [waiting!, downloading!, complete!, unpacking!]) viewTransfer(view, m, true);
  await Bun.sleep(150); // one redraw
  const mid = out.text();
  viewTransfer(view, unpacked!, true);
  view.finish(true);
  const frames = out.text().split(/\u001b\[\d+F/);
  expect(frames.length).toBeGreaterThan(1); // redrawn over itself
  expect(mid).toMatch(new RegExp(`\\u001b\\[2K${name}: unpacking +0\\.0 B/2\\.0 KiB`));
  // One line per row in the last frame: the layer, now done.
  const last = frames.at(-1)!;
  expect(last.match(new RegExp(name, "g"))?.length).toBe(1);
  expect(last).toMatch(new RegExp(`${name}: done +2\\.0 KiB/2\\.0 KiB`));
});
