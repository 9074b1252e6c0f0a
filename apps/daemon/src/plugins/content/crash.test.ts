/** A writer killed with SIGKILL mid-write leaves a resumable ingest and nothing under blobs/. */
import { afterEach, beforeEach, expect, test } from "bun:test";
import { mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Kind } from "@bunkerd/plugin-api";
import { marshalTime } from "./gotime.ts";
import { LocalStore } from "./store.ts";
import { collect, listFiles, pattern, sha256, tempRoot } from "./testdata/helpers.ts";

let root: ReturnType<typeof tempRoot>;
beforeEach(() => {
  root = tempRoot();
});
afterEach(() => root[Symbol.dispose]());

const TOTAL = 32 * 1024 * 1024;

test("SIGKILL mid-write: no partial blob, the ingest resumes at its offset and commits", async () => {
  const child = Bun.spawn(
    [process.execPath, join(import.meta.dir, "testdata/crash-writer.ts"), root.dir, "crashy", String(TOTAL)],
    {
      stdout: "pipe",
      stderr: "inherit",
    },
  );
  try {
    let seen = 0;
    let text = "";
    const reader = child.stdout.getReader();
    while (seen < 2 * 1024 * 1024) {
      const { value, done } = await reader.read();
      if (done) throw new Error("crash writer exited early");
      text += new TextDecoder().decode(value);
      const lines = text.trim().split("\n");
      expect(lines).not.toContain("done");
      seen = Number(lines.at(-1));
    }
    child.kill("SIGKILL");
    await child.exited;
    expect(child.signalCode).toBe("SIGKILL");
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  }

  expect(listFiles(join(root.dir, "blobs"))).toEqual([]);
  const store = await LocalStore.open(root.dir);
  const st = await store.status("crashy");
  expect(st.ref).toBe("crashy");
  expect(st.total).toBe(TOTAL);
  expect(st.offset).toBeGreaterThanOrEqual(2 * 1024 * 1024);
  expect(st.offset).toBeLessThan(TOTAL);
  expect((await store.listStatuses()).map((s) => s.ref)).toEqual(["crashy"]);

  // The lock died with the child: this process takes the ref and resumes where the data ends.
  const w = await store.writer("crashy", { total: TOTAL });
  expect(w.offset).toBe(st.offset);
  expect(w.digest()).toBe(sha256(pattern(0, w.offset)));
  const CHUNK = 1 << 20;
  for (let off = w.offset; off < TOTAL; off += CHUNK)
    await w.write(pattern(off, Math.min(CHUNK, TOTAL - off)));
  const dgst = sha256(pattern(0, TOTAL));
  expect(await w.commit(TOTAL, dgst)).toBe(dgst);
  expect(await store.listStatuses()).toEqual([]);
  const back = await collect(await store.read(dgst));
  expect(back.length).toBe(TOTAL);
  expect(sha256(back)).toBe(dgst);
}, 60_000);

test("a crash after the rename but before the ingest was removed: the blob is whole, the leftover ingest starts over", async () => {
  const store = await LocalStore.open(root.dir);
  const data = pattern(0, 4096);
  const w = await store.writer("half-committed");
  await w.write(data);
  const dgst = await w.commit(data.length, sha256(data));
  // Put back what a crash between rename and removal leaves: the ingest without its data.
  const dir = join(root.dir, "ingest", sha256("half-committed").slice(7));
  mkdirSync(dir);
  writeFileSync(join(dir, "ref"), "half-committed");
  writeFileSync(join(dir, "startedat"), marshalTime(new Date()));
  writeFileSync(join(dir, "updatedat"), marshalTime(new Date()));

  expect(statSync(join(root.dir, "blobs", "sha256", dgst.slice(7))).size).toBe(4096);
  expect(await store.listStatuses()).toEqual([]);
  await expect(store.status("half-committed")).rejects.toMatchObject({ kind: Kind.NotFound });
  const again = await store.writer("half-committed");
  expect(again.offset).toBe(0);
  await again.write(data);
  await expect(again.commit(data.length, dgst)).rejects.toMatchObject({ kind: Kind.AlreadyExists });
  expect(listFiles(join(root.dir, "ingest"))).toEqual([]);
  expect(readFileSync(join(root.dir, "blobs", "sha256", dgst.slice(7)))).toEqual(Buffer.from(data));
});
