/** A concurrency limiter for downloads and uploads: at most `concurrency` tasks run at once,
 *  the rest wait in order. containerd's CRI plugin allows 3 layer downloads at a time
 *  (`max_concurrent_downloads`). */

export const MAX_CONCURRENT_DOWNLOADS = 3;

export type Limiter = {
  /** Runs `task` when a slot is free; the slot is released when it settles. */
  run<T>(task: () => Promise<T>): Promise<T>;
  readonly active: number;
  readonly pending: number;
};

export function createLimiter(concurrency: number = MAX_CONCURRENT_DOWNLOADS): Limiter {
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new RangeError(`concurrency must be a positive integer, got ${concurrency}`);
  }
  let active = 0;
  const waiting: (() => void)[] = [];
  const release = () => {
    active--;
    const next = waiting.shift();
    if (next) {
      active++;
      next();
    }
  };
  return {
    async run<T>(task: () => Promise<T>): Promise<T> {
      if (active < concurrency) active++;
      else await new Promise<void>((resolve) => waiting.push(resolve));
      try {
        return await task();
      } finally {
        release();
      }
    },
    get active() {
      return active;
    },
    get pending() {
      return waiting.length;
    },
  };
}
