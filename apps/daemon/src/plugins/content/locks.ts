/** One writer per ingest at a time in this process (containerd's `content/local/locks.go`).
 *  containerd keys its locks by ref alone; these are keyed by the ingest directory, so two
 *  stores on different roots in one process do not block each other, and two handles on one
 *  root share the lock. The lock is in memory: another process on the same root is not held
 *  off, as with containerd. */
import { unavailable } from "@bunkerd/plugin-api";
import { goDuration, goTimeString } from "./gotime.ts";

interface Lock {
  since: Date;
  /** performance.now() when taken: Go's monotonic reading. */
  sinceMono: number;
  /** The writer's expected digest, which Status reports while the writer is open. */
  expected: string;
}

const locks = new Map<string, Lock>();

/** Takes the lock for `key`, or throws Unavailable with containerd's message: the duration helps
 *  tell a dead lock (long) from contention (short). */
export function tryLock(key: string, ref: string, expected = ""): void {
  const held = locks.get(key);
  if (held) {
    const forNs = (performance.now() - held.sinceMono) * 1e6;
    throw unavailable(
      `ref ${ref} locked for ${goDuration(forNs)} (since ${goTimeString(held.since, held.sinceMono)})`,
    );
  }
  locks.set(key, { since: new Date(), sinceMono: performance.now(), expected });
}

export function unlock(key: string): void {
  locks.delete(key);
}

export const isLocked = (key: string) => locks.has(key);
export const lockedExpected = (key: string) => locks.get(key)?.expected || undefined;

/** containerd's Writer tries the lock ten times, sleeping a random 0..2^n ms between tries
 *  (up to ~1 s in all), so a writer that is just closing does not fail its successor. */
export async function lockWithRetry(key: string, ref: string, expected = ""): Promise<void> {
  for (let count = 0; ; count++) {
    try {
      tryLock(key, ref, expected);
      return;
    } catch (e) {
      if (count >= 9) throw e;
    }
    await Bun.sleep(Math.floor(Math.random() * 2 ** count));
  }
}
