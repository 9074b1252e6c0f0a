// The OOM killer in a real runc container's memory cgroup fires onOOM; a cgroup that goes away
// without an OOM does not; the cgroup v2 memory.events watch fires on oom_kill increments only.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { watchMemoryEvents, watchOOM } from "./oom.ts";
import { Reaper, setSubreaper } from "./reaper.ts";
import { hasRunc, RuncBundle } from "./testing/runc-bundle.ts";

const reaper = new Reaper({ pollMs: 50 });
beforeAll(() => {
  setSubreaper();
  reaper.start();
});
afterAll(() => {
  reaper.stop();
  setSubreaper(false);
});

const within = <T>(p: Promise<T>, ms: number, what: string) =>
  Promise.race([p, Bun.sleep(ms).then(() => Promise.reject(new Error(`${what}: not within ${ms} ms`)))]);

describe.skipIf(!hasRunc)("cgroup v1 with runc", () => {
  test("a container allocating past its memory limit is OOM-killed and onOOM fires", async () => {
    const b = await RuncBundle.create(reaper, {
      args: ["sh", "-c", "x=a; while true; do x=$x$x; done"],
      memoryLimit: 16 * 1024 * 1024,
    });
    try {
      const pid = await b.createContainer();
      let fired = 0;
      let onOOM = () => {};
      const oom = new Promise<void>((resolve) => (onOOM = resolve));
      const w = watchOOM(pid, () => {
        fired++;
        onOOM();
      });
      try {
        await b.start();
        await within(oom, 30_000, "onOOM");
        expect(fired).toBeGreaterThanOrEqual(1);
        expect((await within(reaper.wait(pid), 30_000, "exit")).status).toBe(137);
      } finally {
        w.close();
      }
    } finally {
      await b.cleanup();
    }
  });

  test("deleting a container's cgroup without an OOM ends the watch and never fires", async () => {
    const b = await RuncBundle.create(reaper, { args: ["sleep", "30"], memoryLimit: 64 * 1024 * 1024 });
    let fired = 0;
    try {
      const pid = await b.createContainer();
      const w = watchOOM(pid, () => fired++);
      await b.start();
      await b.runc(["delete", "--force", b.id]);
      await within(reaper.wait(pid), 10_000, "exit");
      await within(w.ended, 10_000, "watch end");
    } finally {
      await b.cleanup();
    }
    expect(fired).toBe(0);
  });
});

describe("cgroup v2 memory.events", () => {
  const dir = mkdtempSync(join(tmpdir(), "bunkerd-oom-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const events = (oomKill: number, max = 0) =>
    writeFileSync(
      join(dir, "memory.events"),
      `low 0\nhigh 0\nmax ${max}\noom ${oomKill}\noom_kill ${oomKill}\n`,
    );

  test("fires when oom_kill goes up, not on other changes, and stops on close", async () => {
    events(2);
    let fired = 0;
    let next: () => void = () => {};
    const w = watchMemoryEvents(dir, () => {
      fired++;
      next();
    });
    try {
      events(2, 5); // max changed, oom_kill did not
      await Bun.sleep(150);
      expect(fired).toBe(0);
      const once = new Promise<void>((r) => (next = r));
      events(3);
      await within(once, 5_000, "onOOM");
      expect(fired).toBe(1);
    } finally {
      w.close();
    }
    await within(w.ended, 5_000, "watch end");
    events(9);
    await Bun.sleep(100);
    expect(fired).toBe(1);
  });
});
