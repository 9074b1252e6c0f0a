import { afterEach, beforeEach, expect, test } from "bun:test";
import { lstatSync, mkdtempSync, readdirSync, readlinkSync, rmSync } from "node:fs";
import { join } from "node:path";
import { openShimLog } from "./shim-log.ts";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync("/tmp/bk-shimlog-");
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** Our fds open on `path`. */
const fdsOn = (path: string) =>
  readdirSync("/proc/self/fd").filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`) === path;
    } catch {
      return false;
    }
  });

test("makes the fifo, copies what a writer puts in it, and closes its fd", async () => {
  const got: string[] = [];
  const log = openShimLog(dir, (c) => got.push(new TextDecoder().decode(c)));
  expect(lstatSync(join(dir, "log")).isFIFO()).toBe(true);
  expect(fdsOn(join(dir, "log")).length).toBeGreaterThan(0);
  // A writer that opens, writes and goes away (as a shim that exits) is no EOF for us.
  for (const line of ["one\n", "two\n"]) {
    expect(Bun.spawnSync(["sh", "-c", `printf '${line.trim()}\\n' > ${join(dir, "log")}`]).exitCode).toBe(0);
  }
  const deadline = Date.now() + 2000;
  while (got.join("") !== "one\ntwo\n" && Date.now() < deadline) await Bun.sleep(10);
  expect(got.join("")).toBe("one\ntwo\n");
  log.close();
  await Bun.sleep(50);
  expect(fdsOn(join(dir, "log"))).toEqual([]);
  // Opened again on an existing fifo (a daemon restart).
  openShimLog(dir, () => {}).close();
});
