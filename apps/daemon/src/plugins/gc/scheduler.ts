/** containerd 1.6's GC scheduler (gc/scheduler/scheduler.go), as a state machine on timers.
 *
 *  Writers in the metadata worker report each committed change: `mutated()` for a change,
 *  `deleted()` for a deletion whose backend object is left for the collector. A deletion makes
 *  every later mutation count as one too until the next collection (containerd's `dirty`
 *  counter). Collection is scheduled `schedule_delay` after
 *  - a `collect()` call (which resolves with that collection's stats: `--sync` waits on it),
 *  - `deletion_threshold` deletions, or any deletion when that threshold is 0 and no collection
 *    is scheduled,
 *  - `mutation_threshold` mutations, when no collection is scheduled;
 *  and runs `startup_delay` after start. After each collection the next check is an interval
 *  away, chosen so that collections take at most `pause_threshold` of real time (average pause
 *  / threshold − average pause); at that check it runs only if something asked for it.
 *
 *  Where this differs from containerd: changes reported while a collection runs its backend
 *  cleanup count toward the next one (containerd's loop drops them, being busy), and the first
 *  collection cleans every backend against the records, so what a crash left is found. */
import { type Logger, unavailable } from "@bunkerd/plugin-api";
import { addDeletion, type Deletion, type Dirty, mergeDirty, notDirty } from "./backends.ts";
import type { Stats } from "./collect.ts";
import type { SchedulerConfig } from "./config.ts";

/** Runs one collection, cleaning at least the backends `dirty` names. */
export type Collector = (dirty: Dirty) => Promise<Stats>;

/** Time and timers, so tests can drive the scheduler without waiting. */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realClock: Clock = {
  now: () => performance.now(),
  setTimeout(fn, ms) {
    const t = setTimeout(fn, ms);
    // A pending collection does not keep a worker alive on its own.
    (t as { unref?: () => void }).unref?.();
    return t;
  },
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

type Waiter = { resolve: (s: Stats) => void; reject: (e: unknown) => void };

export class GcScheduler {
  private timer: unknown;
  /** When the timer fires; undefined when nothing is scheduled. */
  private next: number | undefined;
  private last: number | undefined;
  private interval = 1000;
  private gcTime = 0;
  private collections = 0;
  private triggered = false;
  private deletions = 0;
  private mutations = 0;
  /** A deletion happened since the last collection: containerd's `db.dirty`. */
  private dirtyFlag = false;
  /** The first collection cleans every backend (see the header). */
  private dirty: Dirty = { ...notDirty(), all: true };
  private waiters: Waiter[] = [];
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly collector: Collector,
    private readonly config: SchedulerConfig,
    private readonly opts: { log?: Logger; clock?: Clock } = {},
  ) {}

  private get clock(): Clock {
    return this.opts.clock ?? realClock;
  }

  /** Starts the loop: the first collection `startup_delay` from now (none if that is 0). */
  start(): this {
    if (this.config.startupDelayMs > 0) this.schedule(this.config.startupDelayMs);
    return this;
  }

  /** Collects soon (after `schedule_delay`) and resolves with that collection's stats. A
   *  collection already running does not count: what the caller deleted may postdate it. */
  collect(): Promise<Stats> {
    if (this.stopped) return Promise.reject(unavailable("gc scheduler stopped"));
    return new Promise((resolve, reject) => {
      this.waiters.push({ resolve, reject });
      this.event(false, false);
    });
  }

  /** A change was committed. */
  mutated(): void {
    this.event(true, this.dirtyFlag);
  }

  /** A deletion was committed that leaves a backend object for the collector. Name it when it
   *  is known, so backends that cannot be walked are cleaned too; unnamed, every backend is. */
  deleted(what?: Deletion): void {
    addDeletion(this.dirty, what);
    this.dirtyFlag = true;
    this.event(true, true);
  }

  /** Stops scheduling; a collection under way finishes, callers still waiting are refused. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.cancelTimer();
    const waiting = this.waiters;
    this.waiters = [];
    for (const w of waiting) w.reject(unavailable("gc scheduler stopped"));
    await this.running;
  }

  private event(mutation: boolean, dirty: boolean) {
    if (this.stopped) return;
    if (dirty) this.deletions++;
    if (mutation) this.mutations++;
    else this.triggered = true;
    // While a collection runs, the decision waits for it to finish (see run()).
    if (!this.running) this.consider();
  }

  /** Schedules a collection if what has happened calls for one now. */
  private consider() {
    const c = this.config;
    const due =
      this.triggered ||
      (c.deletionThreshold > 0 && this.deletions >= c.deletionThreshold) ||
      (this.next === undefined &&
        ((c.deletionThreshold === 0 && this.deletions > 0) ||
          (c.mutationThreshold > 0 && this.mutations >= c.mutationThreshold)));
    if (!due) return;
    // Not when one is already scheduled sooner.
    if (this.next === undefined || this.next > this.clock.now() + c.scheduleDelayMs) {
      this.schedule(c.scheduleDelayMs);
    }
  }

  private schedule(ms: number) {
    this.cancelTimer();
    this.next = this.clock.now() + ms;
    this.timer = this.clock.setTimeout(() => this.fire(), ms);
  }

  private cancelTimer() {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  private fire() {
    this.timer = undefined;
    if (this.stopped) return;
    // Nothing asked for a collection: look again after another interval.
    const c = this.config;
    if (
      !this.triggered &&
      this.last !== undefined &&
      this.deletions === 0 &&
      (c.mutationThreshold === 0 || this.mutations < c.mutationThreshold)
    ) {
      this.schedule(this.interval);
      return;
    }
    this.running = this.run().finally(() => {
      this.running = undefined;
    });
  }

  private async run() {
    const waiters = this.waiters;
    const taken = { triggered: this.triggered, deletions: this.deletions, mutations: this.mutations };
    const dirty = this.dirty;
    const scheduledAt = this.next ?? this.clock.now();
    this.waiters = [];
    this.triggered = false;
    this.deletions = 0;
    this.mutations = 0;
    this.dirty = notDirty();
    this.dirtyFlag = false;
    this.next = undefined;

    let stats: Stats;
    try {
      stats = await this.collector(dirty);
    } catch (e) {
      this.opts.log?.error("garbage collection failed", {
        error: e instanceof Error ? e.message : String(e),
      });
      // What it was asked to do is still to do; try again a second later than last time.
      this.triggered ||= taken.triggered;
      this.deletions += taken.deletions;
      this.mutations += taken.mutations;
      mergeDirty(this.dirty, dirty);
      this.dirtyFlag ||= taken.deletions > 0;
      const since = this.last === undefined ? this.interval : scheduledAt - this.last;
      this.last = this.clock.now();
      if (!this.stopped) this.schedule(since + 1000);
      for (const w of waiters) w.reject(e);
      return;
    }

    this.gcTime += stats.durationMs;
    this.collections++;
    if (this.config.pauseThreshold > 0) {
      const avg = this.gcTime / this.collections;
      this.interval = avg / this.config.pauseThreshold - avg;
    }
    this.last = this.clock.now();
    if (!this.stopped) {
      this.schedule(this.interval);
      // What was reported meanwhile may call for a sooner one.
      this.consider();
    }
    for (const w of waiters) w.resolve(stats);
  }
}
