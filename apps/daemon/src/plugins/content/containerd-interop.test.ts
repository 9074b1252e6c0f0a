/** Interop with a real containerd 1.6 on one content root, both ways:
 *  containerd writes (a blob, and an ingest left half done) → LocalStore reads them, resumes the
 *  ingest; LocalStore writes (a blob, more of that ingest) → containerd lists the ingest, resumes
 *  and commits it, records the blob, and serves both through `ctr content get`.
 *  containerd only serves content its bolt database records, so our blob is introduced by
 *  `ctr content ingest` of the same bytes: containerd finds it in the store and records it. */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  cleanupDir,
  type DaemonHandle,
  hasBinary,
  isRoot,
  startDaemon,
} from "../../../../../test/harness/daemon.ts";
import { LocalStore } from "./store.ts";
import { collect, pattern, sha256 } from "./testdata/helpers.ts";

const canRun = isRoot && hasBinary("containerd") && hasBinary("ctr");
const work = canRun ? mkdtempSync("/tmp/bunkerd-content-interop-") : "";
const root = join(work, "root");
const content = join(root, "io.containerd.content.v1.content");
afterAll(() => {
  if (work) cleanupDir(work);
});

const CONFIG = [
  "version = 2",
  `root = "${root}"`,
  `state = "$DIR/state"`,
  'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
  "[grpc]",
  '  address = "$DIR/d.sock"',
  "[ttrpc]",
  '  address = "$DIR/d.sock.ttrpc"',
  // containerd's GC deletes every blob its bolt database does not record, 100 ms after start
  // by default: hold it off so our blob is still there when ctr introduces it.
  '[plugins."io.containerd.gc.v1.scheduler"]',
  '  startup_delay = "1h"',
].join("\n");

const startContainerd = () => startDaemon("containerd", { config: CONFIG });

/** Runs the Go ctr with a file as stdin: ctr resumes an ingest by seeking its input, which a
 *  pipe cannot do. */
async function ctrWithFile(d: DaemonHandle, args: string[], stdinFile: string) {
  const p = Bun.spawn(["ctr", "--address", d.address, ...args], {
    stdin: Bun.file(stdinFile),
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, code] = await Promise.all([
    new Response(p.stdout).text(),
    new Response(p.stderr).text(),
    p.exited,
  ]);
  return { code, stdout, stderr };
}

async function ctrBytes(d: DaemonHandle, args: string[]): Promise<Uint8Array> {
  const p = Bun.spawn(["ctr", "--address", d.address, ...args], { stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([
    new Response(p.stdout).bytes(),
    new Response(p.stderr).text(),
    p.exited,
  ]);
  if (code !== 0) throw new Error(`ctr ${args.join(" ")} failed: ${err}`);
  return out;
}

/** go-units HumanSize, as `ctr content active` prints sizes: 4 significant digits, base 1000. */
function humanSize(n: number): string {
  const units = ["B", "kB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return `${Number(n.toPrecision(4))}${units[i]}`;
}

// Blob A: written by containerd. Ingest P: started by containerd, continued by us, finished by
// containerd. Blob B: written by us, adopted by containerd.
const A = pattern(0, 3 * 1024 * 1024 + 123);
const P = pattern(7, 2 * 1024 * 1024 + 5);
const B = pattern(99, 1024 * 1024 + 77);
const P_HALF = Math.floor(P.length / 2);
const P_3Q = Math.floor((P.length * 3) / 4);
const file = (name: string, data: Uint8Array) => {
  const p = join(work, name);
  writeFileSync(p, data);
  return p;
};

describe.skipIf(!canRun)("containerd 1.6 interop", () => {
  let ingestRef = "";

  test("containerd → LocalStore: its blob reads back; its half-done ingest lists and resumes", async () => {
    const d = await startContainerd();
    try {
      const a = await ctrWithFile(
        d,
        ["content", "ingest", "--expected-size", String(A.length), "--expected-digest", sha256(A), "blob-a"],
        file("a", A),
      );
      expect(a).toMatchObject({ code: 0 });
      // Half of P with P's full size expected: the commit fails and containerd keeps the ingest.
      const half = await ctrWithFile(
        d,
        ["content", "ingest", "--expected-size", String(P.length), "--expected-digest", sha256(P), "partial"],
        file("p-half", P.subarray(0, P_HALF)),
      );
      expect(half.code).not.toBe(0);
    } finally {
      await d.stop();
    }

    const store = await LocalStore.open(content);
    const info = await store.info(sha256(A));
    expect(info.size).toBe(A.length);
    expect(sha256(await collect(await store.read(sha256(A))))).toBe(sha256(A));
    expect(statSync(join(content, "blobs", "sha256", sha256(A).slice(7))).mode & 0o777).toBe(0o444);
    expect((await Array.fromAsync(store.walk())).map((i) => i.digest)).toEqual([sha256(A)]);

    // containerd's metadata names the backend ingest "<namespace>/<sequence>/<ref>".
    const statuses = await store.listStatuses();
    expect(statuses).toHaveLength(1);
    const st = statuses[0]!;
    expect(st.ref).toMatch(/^default\/\d+\/partial$/);
    expect(st.offset).toBe(P_HALF);
    expect(st.total).toBe(P.length);
    expect(Math.abs(st.startedAt.getTime() - Date.now())).toBeLessThan(120_000);
    ingestRef = st.ref;

    // Continue it to three quarters and close: containerd must take it from there.
    const w = await store.writer(ingestRef, { total: P.length });
    expect(w.offset).toBe(P_HALF);
    expect(w.digest()).toBe(sha256(P.subarray(0, P_HALF)));
    await w.write(P.subarray(P_HALF, P_3Q));
    await w.close();

    // And a blob of our own for containerd to find.
    const wb = await store.writer("ours-b", { total: B.length });
    await wb.write(B);
    expect(await wb.commit(B.length, sha256(B))).toBe(sha256(B));
  }, 60_000);

  test("LocalStore → containerd: it resumes our ingest and serves our blob, leaving the file as we wrote it", async () => {
    expect(ingestRef).not.toBe("");
    const blobB = join(content, "blobs", "sha256", sha256(B).slice(7));
    const before = statSync(blobB);
    const d = await startContainerd();
    try {
      // containerd reads our ingest files (offset from data, updatedat we rewrote).
      const active = await d.ctr(["content", "active"]);
      expect(active.code).toBe(0);
      const row = active.stdout.split("\n").find((l) => l.startsWith("partial"));
      expect(row?.split(/\s+/)[1]).toBe(humanSize(P_3Q)); // not humanSize(P_HALF): it saw our bytes

      // It resumes at our offset, hashing the data we wrote, and commits. Its input holds zeros
      // where we wrote: the digest only matches if ctr skipped them and kept our bytes.
      const tail = new Uint8Array(P.length);
      tail.set(P.subarray(P_3Q), P_3Q);
      const rest = await ctrWithFile(
        d,
        ["content", "ingest", "--expected-size", String(P.length), "--expected-digest", sha256(P), "partial"],
        file("p-tail", tail),
      );
      expect(rest).toMatchObject({ code: 0 });
      expect(sha256(await ctrBytes(d, ["content", "get", sha256(P)]))).toBe(sha256(P));

      // Our blob: containerd finds it in the store and records it; the file stays ours.
      const adopt = await ctrWithFile(
        d,
        ["content", "ingest", "--expected-size", String(B.length), "--expected-digest", sha256(B), "blob-b"],
        file("b", B),
      );
      expect(adopt).toMatchObject({ code: 0 });
      expect(sha256(await ctrBytes(d, ["content", "get", sha256(B)]))).toBe(sha256(B));
      const ls = await d.ctr(["content", "ls", "-q"]);
      expect(ls.stdout.split("\n").filter(Boolean).sort()).toEqual([sha256(A), sha256(B), sha256(P)].sort());
    } finally {
      await d.stop();
    }
    const after = statSync(blobB);
    expect([after.ino, after.mtimeMs, after.mode]).toEqual([before.ino, before.mtimeMs, before.mode]);
    expect(readFileSync(blobB)).toEqual(Buffer.from(B));

    const store = await LocalStore.open(content);
    expect(await store.listStatuses()).toEqual([]);
    expect(sha256(await collect(await store.read(sha256(P))))).toBe(sha256(P));
  }, 60_000);
});
