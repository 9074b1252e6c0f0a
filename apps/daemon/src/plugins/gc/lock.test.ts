import { describe, expect, test } from "bun:test";
import { RWLock } from "./lock.ts";

const gate = () => {
  let open!: () => void;
  const opened = new Promise<void>((r) => {
    open = r;
  });
  return { open, opened };
};

describe("RWLock", () => {
  test("shared holders run together; an exclusive one waits for them and runs alone", async () => {
    const lock = new RWLock();
    const log: string[] = [];
    const g = gate();
    const r1 = lock.shared(async () => {
      log.push("r1 in");
      await g.opened;
      log.push("r1 out");
    });
    const r2 = lock.shared(() => void log.push("r2"));
    const w = lock.exclusive(() => void log.push("w"));
    await Bun.sleep(1);
    expect(log).toEqual(["r1 in", "r2"]);
    g.open();
    await Promise.all([r1, r2, w]);
    expect(log).toEqual(["r1 in", "r2", "r1 out", "w"]);
  });

  test("a waiting exclusive holder keeps later shared ones back (no starvation)", async () => {
    const lock = new RWLock();
    const log: string[] = [];
    const g = gate();
    const r1 = lock.shared(() => g.opened.then(() => void log.push("r1")));
    const w = lock.exclusive(() => void log.push("w"));
    const r2 = lock.shared(() => void log.push("r2"));
    await Bun.sleep(1);
    expect(log).toEqual([]);
    g.open();
    await Promise.all([r1, w, r2]);
    expect(log).toEqual(["r1", "w", "r2"]);
  });

  test("a holder that throws releases the lock", async () => {
    const lock = new RWLock();
    await expect(
      lock.exclusive(() => {
        throw new Error("boom");
      }),
    ).rejects.toThrow("boom");
    expect(await lock.exclusive(() => 42)).toBe(42);
  });
});
