// Real processes: orphans re-parented to this test process (made a subreaper) are reaped with
// containerd's statuses, and children that Bun.spawn owns are never stolen from it.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { Reaper, setSubreaper } from "./reaper.ts";

const reaper = new Reaper({ pollMs: 50 });
beforeAll(() => {
  setSubreaper();
  reaper.start();
});
afterAll(() => {
  reaper.stop();
  setSubreaper(false);
});

/** Starts `sh -c script` whose script prints the pid of a background job it leaves behind. */
async function orphan(script: string): Promise<number> {
  const { code, stdout } = await reaper.exec(["sh", "-c", script]);
  expect(code).toBe(0);
  return Number(stdout.trim());
}

/** A grandchild that exits with `code` only once it has been re-parented to this process, so its
 *  parent shell can never reap it first, however loaded the machine is. */
const orphanExiting = (code: number) =>
  `sh -c 'while [ "$(cut -d" " -f4 /proc/$$/stat)" != ${process.pid} ]; do sleep 0.01; done; exit ${code}' >/dev/null 2>&1 & echo $!`;

function isZombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat[stat.lastIndexOf(")") + 2] === "Z";
  } catch {
    return false;
  }
}
function waitZombieSync(pid: number) {
  for (let i = 0; i < 400 && !isZombie(pid); i++) Bun.sleepSync(5);
  expect(isZombie(pid)).toBe(true);
}

test("an orphaned grandchild is reaped with its exit code", async () => {
  const pid = await orphan(orphanExiting(7));
  const { status, exitedAt } = await reaper.wait(pid);
  expect(status).toBe(7);
  expect(exitedAt).toBeInstanceOf(Date);
  expect(isZombie(pid)).toBe(false);
});

test("`sleep 0.2 &` left behind by sh exits 0 and is reaped", async () => {
  const pid = await orphan("sleep 0.2 >/dev/null 2>&1 & echo $!; exit 0");
  expect((await reaper.wait(pid)).status).toBe(0);
});

test("a process killed by SIGKILL reports 128+9", async () => {
  const pid = await orphan("sleep 30 >/dev/null 2>&1 & echo $!");
  process.kill(pid, "SIGKILL");
  expect((await reaper.wait(pid)).status).toBe(137);
});

test("wait() after the exit was already reaped still answers, with the same time", async () => {
  const seen = new Promise<{ pid: number; at: Date }>((resolve) => {
    const off = reaper.onExit((pid, _status, at) => {
      off();
      resolve({ pid, at });
    });
  });
  const pid = await orphan(orphanExiting(5));
  const first = await seen;
  expect(first.pid).toBe(pid);
  const later = await reaper.wait(pid);
  expect(later).toEqual({ status: 5, exitedAt: first.at });
});

test("exec() returns the command's own exit code and output while the reaper runs", async () => {
  const r = await reaper.exec(["sh", "-c", "echo out; echo err >&2; exit 3"]);
  expect(r).toEqual({ code: 3, stdout: "out\n", stderr: "err\n" });
  expect((await reaper.exec(["sh", "-c", "kill -9 $$"])).code).toBe(137);
  const fed = await reaper.exec(["cat"], { stdin: new TextEncoder().encode("fed") });
  expect(fed.stdout).toBe("fed");
});

test("many execs racing with orphan exits: every exec gets its code, every orphan is reaped", async () => {
  const runs = Array.from({ length: 12 }, (_, i) =>
    reaper.exec(["sh", "-c", `${orphanExiting(i + 20)}; exit ${i}`]),
  );
  const results = await Promise.all(runs);
  expect(results.map((r) => r.code)).toEqual(results.map((_, i) => i));
  const statuses = await Promise.all(results.map((r) => reaper.wait(Number(r.stdout.trim()))));
  expect(statuses.map((s) => s.status)).toEqual(results.map((_, i) => i + 20));
});

test("a zombie that Bun.spawn owns is left to Bun even when reapNow runs first", async () => {
  const child = Bun.spawn(["sh", "-c", "exit 4"]);
  // Synchronous from here: Bun's event loop cannot reap it, so it stays a zombie for us to see.
  waitZombieSync(child.pid);
  reaper.reapNow();
  expect(isZombie(child.pid)).toBe(true);
  expect(await child.exited).toBe(4);
});

test("an orphan behind an older Bun-owned zombie is still reaped", async () => {
  const buns = Bun.spawn(["sh", "-c", "exit 2"]);
  waitZombieSync(buns.pid);
  // Spawned after, so it sits behind buns in the kernel's child list that waitid walks.
  const { stdout } = Bun.spawnSync(["sh", "-c", orphanExiting(9)]);
  const pid = Number(stdout.toString().trim());
  waitZombieSync(pid);
  reaper.reapNow();
  expect(isZombie(pid)).toBe(false);
  expect(isZombie(buns.pid)).toBe(true);
  expect(await reaper.wait(pid)).toMatchObject({ status: 9 });
  expect(await buns.exited).toBe(2);
});
