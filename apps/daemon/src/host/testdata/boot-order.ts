/** Plugins for the host's boot-order test. They meet through marker files in `dir` (from their
 *  config) and each init throws, naming what went wrong, if it started too early or waited
 *  for the wrong thing: all of them "ok" means the host's order held. */
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { definePlugin } from "@bunkerd/plugin-api";

const T = "io.bunkerd.order.v1";
type Cfg = { dir: string };
const mark = (c: Cfg, name: string) => writeFileSync(join(c.dir, name), "");
const has = (c: Cfg, name: string) => existsSync(join(c.dir, name));

/** Waits until `name` exists: never while inits run one at a time, since the other side waits too. */
async function meet(c: Cfg, name: string, who: string) {
  for (const end = Date.now() + 10_000; !has(c, name); await Bun.sleep(5)) {
    if (Date.now() > end) throw new Error(`${who}: ${name} never appeared; inits did not overlap`);
  }
}

// `slow` (worker order-a) and `fast` (worker order-b) need not wait for each other, so they init
// at the same time: each waits to see the other started.
export const slow = definePlugin<Cfg>({
  type: T,
  id: "slow",
  worker: "order-a",
  config: { dir: "" },
  async init(ctx) {
    mark(ctx.config, "slow-started");
    await meet(ctx.config, "fast-started", "slow");
    await Bun.sleep(50);
    mark(ctx.config, "slow-done");
    return { done: async () => has(ctx.config, "slow-done") };
  },
});

export const fast = definePlugin<Cfg>({
  type: T,
  id: "fast",
  worker: "order-b",
  config: { dir: "" },
  async init(ctx) {
    mark(ctx.config, "fast-started");
    await meet(ctx.config, "slow-started", "fast");
    return {};
  },
});

// Same worker as slow, after it in the plan: a worker inits one plugin at a time, in order.
export const sameWorker = definePlugin<Cfg>({
  type: T,
  id: "same-worker",
  worker: "order-a",
  config: { dir: "" },
  init(ctx) {
    if (!has(ctx.config, "slow-done")) throw new Error("same-worker started before slow was done");
    return {};
  },
});

// Requires slow: starts only once slow is done, though its own worker is free.
export const dependent = definePlugin<Cfg>({
  type: T,
  id: "dependent",
  worker: "order-c",
  requires: [`${T}.slow`],
  config: { dir: "" },
  init(ctx) {
    if (!has(ctx.config, "slow-done")) throw new Error("dependent started before slow was done");
    return {};
  },
});

// Requires nothing, so it starts at once, but asks for slow (earlier in the plan) in its init:
// the answer waits for slow's init, as a one-at-a-time boot would have it.
export const asker = definePlugin<Cfg>({
  type: T,
  id: "asker",
  worker: "order-d",
  config: { dir: "" },
  async init(ctx) {
    const s = await ctx.get<{ done(): Promise<boolean> }>(T, "slow");
    if (!(await s.done())) throw new Error("asker got slow before its init finished");
    // Later in the plan than asker: never waited for.
    const late = await ctx.get(T, "late").then(
      () => "found",
      (e: Error) => e.message,
    );
    if (!late.includes("not initialized")) throw new Error(`asker: late answered ${late}`);
    return {};
  },
});

// Requires asker, so it cannot be initialized while asker asks for it: waiting would deadlock.
export const late = definePlugin<Cfg>({
  type: T,
  id: "late",
  worker: "order-b",
  requires: [`${T}.asker`],
  config: { dir: "" },
  init() {
    return {};
  },
});

export default [slow, fast, sameWorker, dependent, asker, late];
