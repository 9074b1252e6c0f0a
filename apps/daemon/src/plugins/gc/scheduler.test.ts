import { describe, expect, test } from "bun:test";
import { Kind } from "@bunkerd/plugin-api";
import type { Dirty } from "./backends.ts";
import type { Stats } from "./collect.ts";
import { defaultConfig, type GcConfig, schedulerConfig } from "./config.ts";
import { type Clock, GcScheduler } from "./scheduler.ts";
import { memoryLog } from "./testkit.ts";

/** A clock whose time moves only when the test says so. */
function fakeClock() {
  let now = 0;
  let ids = 0;
  const timers = new Map<number, { at: number; fn: () => void }>();
  const clock: Clock = {
    now: () => now,
    setTimeout(fn, ms) {
      timers.set(++ids, { at: now + ms, fn });
      return ids;
    },
    clearTimeout: (h) => void timers.delete(h as number),
  };
  const settle = async () => {
    for (let i = 0; i < 5; i++) await Bun.sleep(0);
  };
  return {
    clock,
    now: () => now,
    /** Runs every timer due within `ms`, in order, letting each collection finish. */
    async advance(ms: number) {
      const end = now + ms;
      for (;;) {
        const due = [...timers.entries()]
          .filter(([, t]) => t.at <= end)
          .sort(([, a], [, b]) => a.at - b.at)[0];
        if (!due) break;
        timers.delete(due[0]);
        now = due[1].at;
        due[1].fn();
        await settle();
      }
      now = end;
      await settle();
    },
    /** Delays of the timers pending now. */
    pending: () => [...timers.values()].map((t) => t.at - now),
    settle,
  };
}

const stats = (durationMs = 20): Stats => ({
  content: 0,
  snapshots: 0,
  ingests: 0,
  leases: 0,
  images: 0,
  durationMs,
});

function setup(config: Partial<GcConfig> = {}, collector?: (dirty: Dirty) => Promise<Stats>) {
  const time = fakeClock();
  const runs: { at: number; dirty: Dirty }[] = [];
  const { log, lines } = memoryLog();
  const s = new GcScheduler(
    async (dirty) => {
      runs.push({ at: time.now(), dirty });
      return collector ? collector(dirty) : stats();
    },
    schedulerConfig({ ...defaultConfig, ...config }),
    { clock: time.clock, log },
  );
  return { s, time, runs, lines };
}

describe("GcScheduler", () => {
  test("collects first at startup_delay, cleaning every backend", async () => {
    const { s, time, runs } = setup();
    s.start();
    await time.advance(99);
    expect(runs).toEqual([]);
    await time.advance(1);
    expect(runs.map((r) => r.at)).toEqual([100]);
    expect(runs[0]!.dirty.all).toBe(true);
  });

  test("startup_delay 0: no startup collection", async () => {
    const { s, time, runs } = setup({ startup_delay: "0s" });
    s.start();
    await time.advance(10_000);
    expect(runs).toEqual([]);
  });

  test("the next check is an interval away that keeps pauses under pause_threshold", async () => {
    const { s, time, runs } = setup({ pause_threshold: 0.02 });
    s.start();
    await time.advance(100); // a collection taking 20 ms
    expect(time.pending()).toEqual([20 / 0.02 - 20]);
    // Nothing asked for one: the check finds no reason and looks again an interval later.
    await time.advance(980);
    expect(runs).toHaveLength(1);
    expect(time.pending()).toEqual([980]);
  });

  test("pause_threshold 0: the interval stays one second", async () => {
    const { s, time } = setup({ pause_threshold: 0 });
    s.start();
    await time.advance(100);
    expect(time.pending()).toEqual([1000]);
  });

  test("a deletion is collected at the next check (deletion_threshold 0)", async () => {
    const { s, time, runs } = setup();
    s.start();
    await time.advance(100);
    await time.advance(200);
    s.deleted();
    await time.settle();
    expect(runs).toHaveLength(1);
    await time.advance(780);
    expect(runs.map((r) => r.at)).toEqual([100, 1080]);
  });

  test("before any collection is scheduled, a deletion schedules one at schedule_delay", async () => {
    const { s, time, runs } = setup({ startup_delay: "0s", schedule_delay: "50ms" });
    s.start();
    s.deleted({ content: "sha256:1" });
    await time.advance(49);
    expect(runs).toEqual([]);
    await time.advance(1);
    expect(runs.map((r) => r.at)).toEqual([50]);
    expect([...(runs[0]!.dirty.content ?? [])]).toEqual(["sha256:1"]);
  });

  test("deletion_threshold deletions schedule a collection at once", async () => {
    const { s, time, runs } = setup({ deletion_threshold: 3 });
    s.start();
    await time.advance(100);
    s.deleted();
    s.deleted();
    await time.advance(10);
    expect(runs).toHaveLength(1);
    s.deleted();
    await time.advance(0);
    expect(runs.map((r) => r.at)).toEqual([100, 110]);
  });

  test("after a deletion, every mutation counts as one until the next collection", async () => {
    const { s, time, runs } = setup({ deletion_threshold: 3 });
    s.start();
    await time.advance(100);
    s.mutated();
    s.mutated();
    s.deleted();
    s.mutated();
    await time.advance(0);
    expect(runs).toHaveLength(1);
    s.mutated();
    await time.advance(0);
    expect(runs).toHaveLength(2);
    // Collected: mutations are plain mutations again.
    s.mutated();
    s.mutated();
    s.mutated();
    await time.advance(0);
    expect(runs).toHaveLength(2);
  });

  test("mutation_threshold mutations do not schedule, but make the next check collect", async () => {
    const { s, time, runs } = setup({ mutation_threshold: 3 });
    s.start();
    await time.advance(100);
    s.mutated();
    s.mutated();
    await time.advance(980); // two are not enough
    expect(runs).toHaveLength(1);
    s.mutated();
    await time.advance(10);
    expect(runs).toHaveLength(1);
    await time.advance(970);
    expect(runs.map((r) => r.at)).toEqual([100, 2060]);
  });

  test("mutation_threshold 0: mutations alone never collect", async () => {
    const { s, time, runs } = setup({ mutation_threshold: 0, startup_delay: "0s" });
    s.start();
    for (let i = 0; i < 1000; i++) s.mutated();
    await time.advance(60_000);
    expect(runs).toEqual([]);
  });

  test("collect() runs after schedule_delay and resolves with that collection's stats", async () => {
    const { s, time, runs } = setup({ schedule_delay: "10ms" }, async () => stats(7));
    s.start();
    await time.advance(100);
    const a = s.collect();
    const b = s.collect();
    await time.advance(9);
    expect(runs).toHaveLength(1);
    await time.advance(1);
    expect(await a).toEqual(stats(7));
    expect(await b).toEqual(stats(7));
    expect(runs.map((r) => r.at)).toEqual([100, 110]);
  });

  test("collect() while a collection runs waits for the next one", async () => {
    let release!: () => void;
    let calls = 0;
    const { s, time, runs } = setup({}, () => {
      calls++;
      if (calls > 1) return Promise.resolve(stats(1));
      return new Promise((r) => {
        release = () => r(stats(2));
      });
    });
    s.start();
    await time.advance(100); // the startup collection is now running
    const waiting = s.collect();
    let done = false;
    void waiting.then(() => {
      done = true;
    });
    release();
    await time.settle();
    expect(done).toBe(false);
    await time.advance(0);
    expect(await waiting).toEqual(stats(1));
    expect(runs).toHaveLength(2);
  });

  test("a failed collection fails its waiters, keeps what was dirty, and retries a second later", async () => {
    let fail = true;
    const { s, time, runs, lines } = setup({ startup_delay: "0s" }, async () => {
      if (fail) throw new Error("disk full");
      return stats();
    });
    s.start();
    s.deleted({ snapshotter: "overlayfs", backendName: "7" });
    // Bun's expect(promise).rejects spins the event loop until the promise settles, which only
    // the fake clock can make happen: catch first, assert after.
    const failed = s.collect().catch((e: unknown) => e);
    await time.advance(0);
    expect(await failed).toMatchObject({ message: "disk full" });
    expect(lines.find((l) => l.level === "error")).toMatchObject({
      msg: "garbage collection failed",
      fields: { error: "disk full" },
    });
    expect(time.pending()).toEqual([2000]); // the interval (1 s, nothing collected yet) + 1 s
    fail = false;
    await time.advance(2000);
    expect(runs).toHaveLength(2);
    expect([...(runs[1]!.dirty.snapshotters.get("overlayfs") ?? [])]).toEqual(["7"]);
  });

  test("stop() refuses waiting callers and schedules nothing more", async () => {
    const { s, time, runs } = setup({ schedule_delay: "1s" });
    s.start();
    const refused = s.collect().catch((e: unknown) => e);
    await s.stop();
    expect(await refused).toMatchObject({ kind: Kind.Unavailable });
    await expect(s.collect()).rejects.toMatchObject({ kind: Kind.Unavailable });
    s.deleted();
    await time.advance(60_000);
    expect(runs).toEqual([]);
    expect(time.pending()).toEqual([]);
  });
});
