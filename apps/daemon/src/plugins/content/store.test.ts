import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Kind } from "@bunkerd/plugin-api";
import { unmarshalTime } from "./gotime.ts";
import { LocalStore } from "./store.ts";
import { collect, listFiles, sha256, tempRoot } from "./testdata/helpers.ts";

let root: ReturnType<typeof tempRoot>;
let store: LocalStore;
beforeEach(async () => {
  root = tempRoot();
  store = await LocalStore.open(root.dir);
});
afterEach(() => root[Symbol.dispose]());

const enc = (s: string) => new TextEncoder().encode(s);
const ingestDir = (ref: string) => join(root.dir, "ingest", sha256(ref).slice(7));
const blobs = () => listFiles(join(root.dir, "blobs"));
const umask = process.umask();

async function put(ref: string, data: Uint8Array, opts: { total?: number; expected?: string } = {}) {
  const w = await store.writer(ref, opts);
  await w.write(data);
  return w.commit(data.length, sha256(data));
}

describe("write, commit, read, info, delete", () => {
  test("a blob round-trips and lands at blobs/sha256/<hex>, read-only", async () => {
    const data = enc("hello, content store");
    const dgst = sha256(data);
    const w = await store.writer("ref-1", { total: data.length });
    expect(w.offset).toBe(0);
    expect(await w.write(data.subarray(0, 5))).toBe(5);
    await w.write(data.subarray(5));
    expect(w.offset).toBe(data.length);
    expect(w.digest()).toBe(dgst);
    expect(w.status()).toMatchObject({ ref: "ref-1", offset: data.length, total: data.length });
    expect(await w.commit(data.length, dgst)).toBe(dgst);

    const file = join(root.dir, "blobs", "sha256", dgst.slice(7));
    expect(readFileSync(file)).toEqual(Buffer.from(data));
    expect(statSync(file).mode & 0o777).toBe(0o666 & ~umask & ~0o333);
    expect(statSync(join(root.dir, "blobs", "sha256")).mode & 0o777).toBe(0o755 & ~umask);
    expect(existsSync(ingestDir("ref-1"))).toBe(false);

    const info = await store.info(dgst);
    expect(info.digest).toBe(dgst);
    expect(info.size).toBe(data.length);
    expect(Math.abs(info.createdAt.getTime() - Date.now())).toBeLessThan(5_000);

    expect(await collect(await store.read(dgst))).toEqual(data);
    expect(new TextDecoder().decode(await collect(await store.read(dgst, 7, 7)))).toBe("content");
    expect(new TextDecoder().decode(await collect(await store.read(dgst, 15)))).toBe("store");
    expect(await collect(await store.read(dgst, -3, 5))).toEqual(data.subarray(0, 5));
    expect(await collect(await store.read(dgst, data.length))).toEqual(new Uint8Array());
    await expect(store.read(dgst, data.length + 1)).rejects.toMatchObject({
      kind: Kind.OutOfRange,
      message: `read past object length ${data.length} bytes: out of range`,
    });

    await using ra = await store.readerAt(dgst);
    expect(ra.size).toBe(data.length);
    expect(new TextDecoder().decode(await ra.readAt(0, 5))).toBe("hello");

    expect((await Array.fromAsync(store.walk())).map((i) => i.digest)).toEqual([dgst]);
    expect(await Array.fromAsync(store.walk([`digest==${dgst}`]))).toHaveLength(1);
    expect(await Array.fromAsync(store.walk([`digest==sha256:${"0".repeat(64)}`]))).toHaveLength(0);

    await store.delete(dgst);
    expect(blobs()).toEqual([]);
    await expect(store.info(dgst)).rejects.toMatchObject({
      kind: Kind.NotFound,
      message: `content ${dgst}: not found`,
    });
    await expect(store.delete(dgst)).rejects.toMatchObject({
      kind: Kind.NotFound,
      message: `content ${dgst}: not found`,
    });
  });

  test("missing blobs are NotFound with containerd's wording", async () => {
    const dgst = `sha256:${"1".repeat(64)}`;
    await expect(store.info(dgst)).rejects.toMatchObject({
      kind: Kind.NotFound,
      message: `content ${dgst}: not found`,
    });
    await expect(store.read(dgst)).rejects.toMatchObject({
      kind: Kind.NotFound,
      message: `content ${dgst}: not found`,
    });
    const p = join(root.dir, "blobs", "sha256", "1".repeat(64));
    // containerd adds ": not found" once more; BunkerError does not repeat a kind the subject
    // already ends with.
    await expect(store.readerAt(dgst)).rejects.toMatchObject({
      kind: Kind.NotFound,
      message: `blob ${dgst} expected at ${p}: blob not found`,
    });
    // A valid digest of another algorithm is simply not here.
    await expect(store.info(`sha512:${"2".repeat(128)}`)).rejects.toMatchObject({ kind: Kind.NotFound });
  });

  test("an empty blob commits and reads back", async () => {
    const w = await store.writer("empty");
    const dgst = await w.commit(0, sha256(""));
    expect(dgst).toBe(sha256(""));
    expect((await store.info(dgst)).size).toBe(0);
    expect(await collect(await store.read(dgst))).toEqual(new Uint8Array());
  });

  test("a read keeps going when the blob is deleted underneath it", async () => {
    const data = new Uint8Array(3 << 20).map((_, i) => i & 0xff);
    const dgst = await put("big", data);
    const reader = await store.read(dgst);
    const it = reader[Symbol.asyncIterator]();
    const first = await it.next();
    expect(first.value?.length).toBe(1 << 20);
    await store.delete(dgst);
    const rest: Uint8Array[] = [first.value!];
    for (let r = await it.next(); !r.done; r = await it.next()) rest.push(r.value);
    expect(rest.map((c) => c.length)).toEqual([1 << 20, 1 << 20, 1 << 20]);
    expect(sha256(Buffer.concat(rest))).toBe(dgst);
  });
});

describe("commit checks", () => {
  test("a wrong expected digest is FailedPrecondition and nothing reaches blobs/", async () => {
    const data = enc("some bytes");
    const wrong = sha256("other bytes");
    const w = await store.writer("bad-digest");
    await w.write(data);
    await expect(w.commit(data.length, wrong)).rejects.toMatchObject({
      kind: Kind.FailedPrecondition,
      message: `unexpected commit digest ${sha256(data)}, expected ${wrong}: failed precondition`,
    });
    await w.close();
    expect(blobs()).toEqual([]);
    // The ingest stays, as in containerd; the lock is released, so the ref can be written again.
    expect((await store.status("bad-digest")).offset).toBe(data.length);
    const again = await store.writer("bad-digest");
    expect(again.offset).toBe(data.length);
    await again.close();
  });

  test("a wrong size is FailedPrecondition and nothing reaches blobs/", async () => {
    const data = enc("twelve bytes");
    const w = await store.writer("bad-size");
    await w.write(data);
    await expect(w.commit(99, sha256(data))).rejects.toMatchObject({
      kind: Kind.FailedPrecondition,
      message: "unexpected commit size 12, expected 99: failed precondition",
    });
    expect(blobs()).toEqual([]);
    // Commit ends the writer even when it fails.
    expect(w.closed).toBe(true);
    await expect(w.commit(12)).rejects.toMatchObject({
      kind: Kind.FailedPrecondition,
      message: "cannot commit on closed writer: failed precondition",
    });
  });

  test("committing a blob that exists is AlreadyExists and removes the ingest", async () => {
    const data = enc("twice");
    const dgst = await put("first", data);
    const before = statSync(join(root.dir, "blobs", "sha256", dgst.slice(7)));
    const w = await store.writer("second");
    await w.write(data);
    await expect(w.commit(data.length, dgst)).rejects.toMatchObject({
      kind: Kind.AlreadyExists,
      message: `content ${dgst}: already exists`,
    });
    expect(existsSync(ingestDir("second"))).toBe(false);
    const after = statSync(join(root.dir, "blobs", "sha256", dgst.slice(7)));
    expect([after.ino, after.mtimeMs]).toEqual([before.ino, before.mtimeMs]);
  });

  test("a writer whose expected digest is already here is refused up front; nothing is written", async () => {
    const data = enc("present");
    const dgst = await put("x", data);
    await expect(store.writer("y", { expected: dgst })).rejects.toMatchObject({
      kind: Kind.AlreadyExists,
      message: `content ${dgst}: already exists`,
    });
    expect(existsSync(ingestDir("y"))).toBe(false);
    // ...and the refusal does not hold the lock.
    const w = await store.writer("y");
    await w.close();
  });
});

describe("ingests on disk, resume, offsets", () => {
  test("the ingest files are containerd's: ref, data, startedat, updatedat, total", async () => {
    const w = await store.writer("docker.io/library/busybox:latest-layer", { total: 1234 });
    await w.write(enc("abc"));
    const dir = ingestDir("docker.io/library/busybox:latest-layer");
    expect(listFiles(dir)).toEqual(["data", "ref", "startedat", "total", "updatedat"]);
    expect(readFileSync(join(dir, "ref"), "utf8")).toBe("docker.io/library/busybox:latest-layer");
    expect(readFileSync(join(dir, "total"), "utf8")).toBe("1234");
    expect(readFileSync(join(dir, "data"), "utf8")).toBe("abc");
    const started = readFileSync(join(dir, "startedat"), "utf8");
    expect(started).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)$/);
    expect(unmarshalTime(started)?.getTime()).toBe(w.status().startedAt.getTime());
    for (const f of ["ref", "startedat", "updatedat", "total", "data"]) {
      expect(statSync(join(dir, f)).mode & 0o777).toBe(0o666 & ~umask);
    }
    expect(statSync(dir).mode & 0o777).toBe(0o755 & ~umask);
    await w.close();
    expect(readFileSync(join(dir, "updatedat"), "utf8")).not.toBe("");
    expect(listFiles(dir)).not.toContain("updatedat.tmp");
  });

  test("no total file without a total", async () => {
    const w = await store.writer("no-total");
    expect(listFiles(ingestDir("no-total"))).toEqual(["data", "ref", "startedat", "updatedat"]);
    expect(w.status().total).toBe(0);
    await w.close();
  });

  test("close keeps the ingest; a new writer resumes at its offset with the digest so far", async () => {
    const data = enc("0123456789abcdef");
    const w = await store.writer("resume", { total: data.length });
    await w.write(data.subarray(0, 10));
    const started = w.status().startedAt;
    await w.close();
    await w.close(); // idempotent

    const st = await store.status("resume");
    expect(st).toMatchObject({ ref: "resume", offset: 10, total: data.length });
    expect(st.startedAt.getTime()).toBe(started.getTime());

    const r = await store.writer("resume");
    expect(r.offset).toBe(10);
    expect(r.digest()).toBe(sha256(data.subarray(0, 10)));
    expect(r.status().total).toBe(data.length);
    expect(r.status().startedAt.getTime()).toBe(started.getTime());
    await r.write(data.subarray(10));
    expect(await r.commit(data.length, sha256(data))).toBe(sha256(data));
    expect(await collect(await store.read(sha256(data)))).toEqual(data);
  });

  test("a resume asking for another total starts the ingest over", async () => {
    const w = await store.writer("retotal", { total: 10 });
    await w.write(enc("12345"));
    await w.close();
    const r = await store.writer("retotal", { total: 20 });
    expect(r.offset).toBe(0);
    expect(r.status().total).toBe(20);
    expect(readFileSync(join(ingestDir("retotal"), "data")).length).toBe(0);
    await r.close();
  });

  test("a damaged ingest is started over", async () => {
    const w = await store.writer("damaged");
    await w.write(enc("xyz"));
    await w.close();
    writeFileSync(join(ingestDir("damaged"), "startedat"), "not a time");
    await expect(store.status("damaged")).rejects.toThrow(/could not read startedat/);
    expect(await store.listStatuses()).toEqual([]);
    const r = await store.writer("damaged");
    expect(r.offset).toBe(0);
    await r.close();
    expect((await store.status("damaged")).offset).toBe(0);
  });

  test("writeAt follows Content.Write: wrong offsets refused, offset 0 starts over", async () => {
    const w = await store.writer("offsets");
    await w.writeAt(0, enc("hello "));
    await w.writeAt(6, enc("world"));
    await expect(w.writeAt(3, enc("x"))).rejects.toMatchObject({
      kind: Kind.OutOfRange,
      message: "write @3 must occur at current offset 11: out of range",
    });
    await expect(w.writeAt(20, enc("x"))).rejects.toMatchObject({ kind: Kind.OutOfRange });
    expect(w.offset).toBe(11);
    await w.writeAt(0, enc("again"));
    expect(w.offset).toBe(5);
    expect(w.digest()).toBe(sha256("again"));
    expect(readFileSync(join(ingestDir("offsets"), "data"), "utf8")).toBe("again");
    await expect(w.truncate(2)).rejects.toThrow("Truncate: unsupported size");
    expect(await w.commit(5, sha256("again"))).toBe(sha256("again"));
  });

  test("concurrent writes on one writer land in call order", async () => {
    const w = await store.writer("ordered");
    const parts = Array.from({ length: 50 }, (_, i) => enc(`part-${i};`));
    await Promise.all(parts.map((p) => w.write(p)));
    const all = Buffer.concat(parts);
    expect(w.digest()).toBe(sha256(all));
    expect(await w.commit(all.length, sha256(all))).toBe(sha256(all));
  });
});

describe("locks", () => {
  test("a second writer on a held ref is Unavailable with containerd's message", async () => {
    const w = await store.writer("contended");
    const err = await store.writer("contended").catch((e) => e);
    expect(err).toMatchObject({ kind: Kind.Unavailable });
    expect(err.message).toMatch(
      /^ref contended locked for [\d.]+(ns|µs|ms|s) \(since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)? [+-]\d{4} \S+ m=\+\d+\.\d{9}\): unavailable$/,
    );
    // Another store object on the same root shares the lock; another ref does not.
    const other = await LocalStore.open(root.dir);
    await expect(other.writer("contended")).rejects.toMatchObject({ kind: Kind.Unavailable });
    const free = await other.writer("not-contended");
    await free.close();
    await w.close();
    const next = await store.writer("contended");
    await next.close();
  });

  test("a writer that closes while another waits hands the ref over", async () => {
    const w = await store.writer("handover");
    const waiting = store.writer("handover");
    await Bun.sleep(5);
    await w.close();
    const next = await waiting;
    expect(next.offset).toBe(0);
    await next.close();
  });
});

describe("statuses, abort, cleanup", () => {
  test("listStatuses reports every ingest with ref, offset, total, expected and times; filters on ref", async () => {
    const expected = sha256("expected content");
    const a = await store.writer("ref-a", { total: 100, expected });
    await a.write(enc("aaaa"));
    const b = await store.writer("ref-b");
    await b.write(enc("bb"));
    await b.close();

    const list = (await store.listStatuses()).sort((x, y) => x.ref.localeCompare(y.ref));
    expect(list.map((s) => [s.ref, s.offset, s.total, s.expected])).toEqual([
      ["ref-a", 4, 100, expected],
      ["ref-b", 2, 0, ""],
    ]);
    for (const s of list) {
      expect(s.startedAt.getTime()).toBeLessThanOrEqual(s.updatedAt.getTime());
    }
    expect((await store.listStatuses(["ref==ref-b"])).map((s) => s.ref)).toEqual(["ref-b"]);
    expect((await store.listStatuses(["ref~=^ref-"])).length).toBe(2);
    expect((await Array.fromAsync(store.walkStatusRefs())).sort()).toEqual(["ref-a", "ref-b"]);
    await a.close();
  });

  test("status of an unknown ref is NotFound", async () => {
    await expect(store.status("nope")).rejects.toMatchObject({ kind: Kind.NotFound });
  });

  test("abort removes the ingest; aborting nothing is NotFound", async () => {
    const w = await store.writer("to-abort");
    await w.write(enc("partial"));
    await w.close();
    await store.abort("to-abort");
    expect(existsSync(ingestDir("to-abort"))).toBe(false);
    await expect(store.status("to-abort")).rejects.toMatchObject({ kind: Kind.NotFound });
    await expect(store.abort("to-abort")).rejects.toMatchObject({
      kind: Kind.NotFound,
      message: 'ingest ref "to-abort": not found',
    });
    expect(blobs()).toEqual([]);
  });

  test("ingestsOlderThan and cleanup find idle ingests, spare active and kept ones", async () => {
    const old = Date.now() / 1000 - 7200;
    for (const ref of ["idle", "kept", "active"]) {
      const w = await store.writer(ref);
      await w.write(enc(ref));
      await w.close();
      for (const f of ["data", "updatedat"]) utimesSync(join(ingestDir(ref), f), old, old);
      writeFileSync(join(ingestDir(ref), "updatedat"), new Date(old * 1000).toISOString());
    }
    // A damaged ingest (no ref, no data), aged by its directory.
    const junk = join(root.dir, "ingest", "f".repeat(64));
    mkdirSync(junk);
    utimesSync(junk, old, old);
    const fresh = await store.writer("fresh");
    await fresh.close();
    const active = await store.writer("active");

    const idle = await store.ingestsOlderThan(3_600_000);
    expect(idle.map((e) => `${e.ref ?? e.id}:${e.active}`).sort()).toEqual([
      "active:true",
      `${"f".repeat(64)}:false`,
      "idle:false",
      "kept:false",
    ]);
    const removed = await store.cleanup({ olderThanMs: 3_600_000, keep: (ref) => ref === "kept" });
    expect(removed.map((e) => e.ref ?? e.id).sort()).toEqual(["f".repeat(64), "idle"]);
    expect((await store.listStatuses()).map((s) => s.ref).sort()).toEqual(["active", "fresh", "kept"]);
    await active.close();
  });
});

describe("untrusted digests and refs stay inside the root", () => {
  const outside = (name: string) => join(root.dir, "..", name);

  test.each([
    "sha256:../../../../etc/passwd",
    `sha256:../${"a".repeat(61)}`,
    `sha256/../../x:${"a".repeat(64)}`,
    `../../sha256:${"a".repeat(64)}`,
    `sha256:${"a".repeat(64)}/../../x`,
    `sha256:${"A".repeat(64)}`,
    "sha256:",
    "",
    "/etc/passwd",
    `md5:${"a".repeat(32)}`,
  ])("digest %p is InvalidArgument everywhere", async (d) => {
    for (const call of [
      () => store.info(d),
      () => store.read(d),
      () => store.readerAt(d),
      () => store.delete(d),
      ...(d === "" ? [] : [() => store.writer("r", { expected: d })]),
    ]) {
      await expect(call()).rejects.toMatchObject({ kind: Kind.InvalidArgument });
    }
  });

  test("containerd's messages for invalid digests", async () => {
    await expect(store.info(`sha256:${"Z".repeat(64)}`)).rejects.toMatchObject({
      message:
        "calculating blob info path: cannot calculate blob path from invalid digest: invalid checksum digest format: invalid argument",
    });
    await expect(store.readerAt("sha256:zz")).rejects.toMatchObject({
      message:
        "calculating blob path for ReaderAt: cannot calculate blob path from invalid digest: invalid checksum digest length: invalid argument",
    });
    await expect(store.delete(`md5:${"a".repeat(32)}`)).rejects.toMatchObject({
      message:
        "calculating blob path for delete: cannot calculate blob path from invalid digest: unsupported digest algorithm: invalid argument",
    });
  });

  test("refs of any shape map to one directory below ingest/", async () => {
    const refs = [
      "../../escape",
      "/etc/passwd",
      "a/../../b",
      "..",
      ".",
      "x\0y",
      "név/ünïcode",
      "r".repeat(5000),
    ];
    for (const ref of refs) {
      const w = await store.writer(ref);
      await w.write(enc(ref));
      await w.close();
      expect((await store.status(ref)).ref).toBe(ref);
    }
    expect((await store.listStatuses()).map((s) => s.ref).sort()).toEqual([...refs].sort());
    expect(listFiles(join(root.dir, "ingest")).every((p) => /^[0-9a-f]{64}\/[a-z]+$/.test(p))).toBe(true);
    expect(existsSync(outside("escape"))).toBe(false);
    for (const ref of refs) await store.abort(ref);
    expect(listFiles(root.dir)).toEqual([]);
  });

  test("an empty ref is InvalidArgument", async () => {
    await expect(store.writer("")).rejects.toMatchObject({
      kind: Kind.InvalidArgument,
      message: "ref must not be empty: invalid argument",
    });
  });

  test("walk skips what is not a blob", async () => {
    const dgst = await put("ok", enc("fine"));
    mkdirSync(join(root.dir, "blobs", "md5"), { recursive: true });
    writeFileSync(join(root.dir, "blobs", "md5", "x"), "");
    writeFileSync(join(root.dir, "blobs", "sha256", "not-a-digest"), "");
    mkdirSync(join(root.dir, "blobs", "sha256", "b".repeat(64)));
    expect((await Array.fromAsync(store.walk())).map((i) => i.digest)).toEqual([dgst]);
  });
});
