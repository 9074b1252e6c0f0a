/** The lock between the collector's backend cleanup and writers that put a backend object and
 *  its record in place in two steps (commit a blob, then record it; prepare a snapshot, then
 *  record it). containerd holds `contentStore.l` the same way: `Writer.Commit` and `Delete` take
 *  it shared, `garbageCollect` takes it exclusively, so a cleanup that reads the records and then
 *  deletes what they do not name never sees a blob whose record is still on its way.
 *
 *  The lock belongs to the database handle, so every module in the metadata worker finds the
 *  same one without depending on the GC plugin. */
import type { MetadataDb } from "../metadata/index.ts";

type Waiter = { exclusive: boolean; wake: () => void };

/** A fair readers–writer lock for async work: waiters are served in arrival order, and a
 *  waiting writer holds back readers that come after it. */
export class RWLock {
  private readers = 0;
  private writer = false;
  private readonly queue: Waiter[] = [];

  /** Runs `fn` while no exclusive holder runs; others may share. */
  shared<T>(fn: () => Promise<T> | T): Promise<T> {
    return this.hold(false, fn);
  }

  /** Runs `fn` alone. */
  exclusive<T>(fn: () => Promise<T> | T): Promise<T> {
    return this.hold(true, fn);
  }

  private async hold<T>(exclusive: boolean, fn: () => Promise<T> | T): Promise<T> {
    await this.acquire(exclusive);
    try {
      return await fn();
    } finally {
      if (exclusive) this.writer = false;
      else this.readers--;
      this.drain();
    }
  }

  private acquire(exclusive: boolean): Promise<void> {
    if (this.queue.length === 0 && this.free(exclusive)) {
      this.take(exclusive);
      return Promise.resolve();
    }
    return new Promise((wake) => this.queue.push({ exclusive, wake }));
  }

  private free(exclusive: boolean): boolean {
    return exclusive ? !this.writer && this.readers === 0 : !this.writer;
  }

  private take(exclusive: boolean) {
    if (exclusive) this.writer = true;
    else this.readers++;
  }

  private drain() {
    while (this.queue.length > 0 && this.free(this.queue[0]!.exclusive)) {
      const next = this.queue.shift()!;
      this.take(next.exclusive);
      next.wake();
    }
  }
}

const locks = new WeakMap<MetadataDb, RWLock>();

/** The backend lock of this database: writers that commit to a backend and then record it
 *  hold it shared across both steps; the collector's backend cleanup holds it exclusively. */
export function backendLock(db: MetadataDb): RWLock {
  let lock = locks.get(db);
  if (!lock) {
    lock = new RWLock();
    locks.set(db, lock);
  }
  return lock;
}
