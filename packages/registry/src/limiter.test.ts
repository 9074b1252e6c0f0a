import { expect, test } from "bun:test";
import { createLimiter, MAX_CONCURRENT_DOWNLOADS } from "./limiter.ts";

test("at most `concurrency` tasks run at once, in the order they came", async () => {
  const limiter = createLimiter();
  expect(MAX_CONCURRENT_DOWNLOADS).toBe(3);
  let running = 0;
  let peak = 0;
  const started: number[] = [];
  const task = (i: number) => async () => {
    started.push(i);
    running++;
    peak = Math.max(peak, running);
    await Bun.sleep(5 + (i % 3));
    running--;
    if (i === 4) throw new Error("task 4 failed");
    return i;
  };
  const results = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => limiter.run(task(i))));
  expect(peak).toBe(3);
  expect(started).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  expect(results[4]!.status).toBe("rejected");
  expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(9);
  expect([limiter.active, limiter.pending]).toEqual([0, 0]);
});

test("concurrency must be a positive integer", () => {
  expect(() => createLimiter(0)).toThrow(RangeError);
});
