/** How the metadata worker's writers tell the garbage collector (io.containerd.gc.v1.scheduler)
 *  what they committed, as containerd's metadata DB calls the scheduler's mutation callback after
 *  each write transaction. The scheduler is another plugin, found when first needed: while it is
 *  missing (not registered, skipped, failed or not yet up) notices are dropped and a `collect()`
 *  collects nothing. */
import { type InitContext, Kind, PluginType, toBunkerError } from "@bunkerd/plugin-api";

/** A removal whose backend object (a blob, a snapshot) the next collection must clean up. */
export type Deletion = { content: string } | { snapshotter: string; backendName?: string };

export interface GcNotifier {
  /** A change was committed. */
  mutated(): void;
  /** A deletion was committed (containerd's `dirty`); name the backend object when there is one. */
  deleted(what?: Deletion): void;
  /** Collects now, and resolves when that collection is done (`sync` deletes). */
  collect(): Promise<void>;
}

/** For tests and for stores without a collector. */
export const noGc: GcNotifier = { mutated() {}, deleted() {}, async collect() {} };

/** What the notifier needs of the scheduler, in this worker or through a proxy. */
interface Scheduler {
  mutated(): unknown;
  deleted(what?: Deletion): unknown;
  collect(): Promise<unknown>;
}

export function gcNotifier(ctx: Pick<InitContext, "get">): GcNotifier {
  // One lookup at a time, shared by the calls that wait on it (so their notices keep their
  // order); a miss is forgotten, so the scheduler is found once it is up.
  let pending: Promise<Scheduler | undefined> | undefined;
  const scheduler = (): Promise<Scheduler | undefined> =>
    (pending ??= ctx.get<Scheduler>(PluginType.GC, "scheduler").catch((e) => {
      pending = undefined;
      if (toBunkerError(e).kind === Kind.NotFound) return undefined;
      throw e;
    }));
  // Notices are fire-and-forget: the change is committed whatever the collector makes of it.
  const tell = (fn: (s: Scheduler) => unknown) => {
    scheduler()
      .then((s) => s && fn(s))
      .catch(() => {});
  };
  return {
    mutated: () => tell((s) => s.mutated()),
    deleted: (what) => tell((s) => s.deleted(what)),
    async collect() {
      const s = await scheduler();
      if (s) await s.collect();
    },
  };
}
