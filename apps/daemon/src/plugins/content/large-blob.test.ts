/** A 100 MiB blob streams in and out in bounded memory. Throughput is printed for the record,
 *  never asserted (benchmarks live in bench/). */
import { afterAll, expect, test } from "bun:test";
import { randomFillSync } from "node:crypto";
import { statSync } from "node:fs";
import { join } from "node:path";
import { CHUNK_SIZE } from "./reader.ts";
import { LocalStore } from "./store.ts";
import { tempRoot } from "./testdata/helpers.ts";

const SIZE = 100 * 1024 * 1024;
const root = tempRoot();
afterAll(() => root[Symbol.dispose]());

const mib = (n: number) => (n / 1024 / 1024).toFixed(1);

test("100 MiB: streamed in, committed, streamed out with the same digest, RSS growth well under the size", async () => {
  const store = await LocalStore.open(root.dir);
  const expected = new Bun.CryptoHasher("sha256");
  const buf = new Uint8Array(CHUNK_SIZE);

  // Peak RSS above a fresh baseline, per phase. Reads hand out fresh 1 MiB buffers (they may be
  // transferred to another worker), so the read phase runs ahead of the collector by some MiB.
  let base = 0;
  let peak = 0;
  const startPhase = () => {
    Bun.gc(true);
    base = process.memoryUsage().rss;
    peak = base;
  };
  // Each chunk read is a fresh buffer that only the garbage collector frees; when the whole
  // test suite runs, its pacing varies. Collect every few chunks, as a long-running daemon
  // does, so the peak reflects what the store holds rather than when the runtime collected.
  let samples = 0;
  const sample = () => {
    if (++samples % 16 === 0) Bun.gc(false);
    peak = Math.max(peak, process.memoryUsage().rss);
  };
  startPhase();

  const t0 = performance.now();
  const w = await store.writer("big-blob", { total: SIZE });
  for (let off = 0; off < SIZE; off += buf.length) {
    randomFillSync(buf);
    expected.update(buf);
    await w.write(buf);
    sample();
  }
  const dgst = `sha256:${expected.digest("hex")}`;
  expect(w.digest()).toBe(dgst);
  expect(await w.commit(SIZE, dgst)).toBe(dgst);
  const writeMs = performance.now() - t0;
  expect(statSync(join(root.dir, "blobs", "sha256", dgst.slice(7))).size).toBe(SIZE);

  const writeGrowth = peak - base;

  startPhase();
  const t1 = performance.now();
  const got = new Bun.CryptoHasher("sha256");
  let n = 0;
  let biggest = 0;
  for await (const chunk of await store.read(dgst)) {
    got.update(chunk);
    n += chunk.length;
    biggest = Math.max(biggest, chunk.length);
    sample();
  }
  const readMs = performance.now() - t1;
  expect(n).toBe(SIZE);
  expect(biggest).toBeLessThanOrEqual(CHUNK_SIZE);
  expect(`sha256:${got.digest("hex")}`).toBe(dgst);

  const readGrowth = peak - base;
  console.log(
    `100 MiB blob: write+commit ${writeMs.toFixed(0)} ms (${mib(SIZE / (writeMs / 1000))} MiB/s), ` +
      `read ${readMs.toFixed(0)} ms (${mib(SIZE / (readMs / 1000))} MiB/s), ` +
      `peak RSS growth: write ${mib(writeGrowth)} MiB, read ${mib(readGrowth)} MiB`,
  );
  expect(writeGrowth).toBeLessThan(SIZE / 4);
  expect(readGrowth).toBeLessThan(SIZE / 2);
}, 120_000);
