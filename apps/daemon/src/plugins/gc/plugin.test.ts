import { afterEach, describe, expect, test } from "bun:test";
import { type InitContext, notFound, PluginType, uriOf } from "@bunkerd/plugin-api";
import type { openMetadata } from "../metadata/index.ts";
import { METADATA_WORKER } from "../metadata/plugin.ts";
import type { GcConfig } from "./config.ts";
import plugin from "./plugin.ts";
import type { GcScheduler } from "./scheduler.ts";
import type { ContentProxy } from "./start.ts";
import { digest as d, left, memoryLog, seed } from "./testkit.ts";

/** A content plugin as a proxy from another worker serves it: promises, a promised stream. */
function contentProxy(blobs: string[]) {
  const held = new Set(blobs);
  const calls: string[] = [];
  const proxy: ContentProxy = {
    async delete(digest) {
      calls.push(`delete ${digest}`);
      held.delete(digest);
    },
    async walk() {
      return (async function* () {
        for (const digest of [...held]) yield { digest };
      })();
    },
    async abort(ref) {
      calls.push(`abort ${ref}`);
    },
  };
  return { proxy, held, calls };
}

const running: GcScheduler[] = [];
afterEach(async () => {
  for (const s of running.splice(0)) await s.stop();
});

function init(db: ReturnType<typeof openMetadata>, content: () => unknown, config: Partial<GcConfig> = {}) {
  const { log, lines } = memoryLog();
  const exports: Record<string, string> = {};
  const ctx = {
    type: plugin.type,
    id: plugin.id,
    uri: uriOf(plugin),
    config: plugin.parseConfig!({ ...plugin.config, startup_delay: "0s", ...config }),
    log,
    exports,
    async get(type: string, id?: string) {
      if (type === PluginType.Metadata && id === "sqlite") return db;
      if (type === PluginType.Content && id === "content") return content();
      throw notFound(`plugin ${type}.${id}`);
    },
  } as unknown as InitContext<GcConfig>;
  return {
    exports,
    lines,
    scheduler: Promise.resolve(plugin.init(ctx)).then((s) => {
      running.push(s);
      return s;
    }),
  };
}

describe("io.containerd.gc.v1.scheduler", () => {
  test("the record: containerd's type, id, requirement and defaults, in the metadata worker", () => {
    expect(plugin).toMatchObject({
      type: "io.containerd.gc.v1",
      id: "scheduler",
      requires: ["io.containerd.metadata.v1"],
      worker: METADATA_WORKER,
      config: {
        pause_threshold: 0.02,
        deletion_threshold: 0,
        mutation_threshold: 100,
        schedule_delay: "0ms",
        startup_delay: "100ms",
      },
    });
  });

  test("init exports the settings and returns a scheduler whose collect() cleans through the content proxy", async () => {
    const s = seed().image("a", "i", d(1)).content("a", d(1)).content("a", d(2));
    const content = contentProxy([d(1), d(2), d(3)]);
    const { exports, scheduler } = init(s.db, () => content.proxy);
    const gc = await scheduler;
    expect(exports).toEqual({
      PauseThreshold: "0.02",
      DeletionThreshold: "0",
      MutationThreshold: "100",
      ScheduleDelay: "0s",
    });
    expect(await gc.collect()).toMatchObject({ content: 1, images: 0 });
    expect(left(s.db).content).toEqual([`a/${d(1)}`]);
    // The first collection walks the whole store: d(3) had no record to begin with.
    expect(content.calls.sort()).toEqual([`delete ${d(2)}`, `delete ${d(3)}`]);
  });

  test("without a content store, records are still collected; blobs wait until it is there", async () => {
    const s = seed().content("a", d(1));
    const content = contentProxy([d(1)]);
    let present = false;
    const { scheduler, lines } = init(s.db, () => {
      if (!present) throw notFound("plugin io.containerd.content.v1.content");
      return content.proxy;
    });
    const gc = await scheduler;
    expect(await gc.collect()).toMatchObject({ content: 1 });
    expect(content.held.has(d(1))).toBe(true);
    expect(lines.some((l) => l.msg === "no content store: blob cleanup skipped")).toBe(true);

    present = true;
    await gc.collect();
    expect(content.calls).toEqual([`delete ${d(1)}`]);
  });

  test("a deletion reported by a service is cleaned by the next collection", async () => {
    const s = seed();
    const content = contentProxy([d(1)]);
    const gc = await init(s.db, () => content.proxy).scheduler;
    await gc.collect(); // the first, full one
    content.held.add(d(2));
    gc.deleted({ content: d(2) });
    await gc.collect();
    expect(content.calls).toEqual([`delete ${d(1)}`, `delete ${d(2)}`]);
  });

  test("a bad config value is refused naming the key", () => {
    expect(() => plugin.parseConfig!({ ...plugin.config, startup_delay: "soon" })).toThrow(
      /^startup_delay: /,
    );
  });
});
