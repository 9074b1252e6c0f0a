/** Content through the Go ctr against bunkerd: ingest and get round trips, refused commits,
 *  labels, filters, removal, resume, and isolation between namespaces. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type DaemonHandle, hasBinary, startDaemon } from "../harness/daemon.ts";

const sha256 = (b: Uint8Array) => `sha256:${new Bun.CryptoHasher("sha256").update(b).digest("hex")}`;
const random = (n: number) => {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i += 65536) crypto.getRandomValues(b.subarray(i, Math.min(n, i + 65536)));
  return b;
};

// Blobs written with ctr content ingest belong to no image or lease: containerd's collector (and
// ours) removes them at its next run. Keep it from running during these tests.
const keepUnreferenced = `[plugins."io.containerd.gc.v1.scheduler"]\n  startup_delay = "1h"\n  mutation_threshold = 1000000\n  deletion_threshold = 1000000\n`;

describe.skipIf(!hasBinary("ctr"))("content with the Go ctr", () => {
  let d: DaemonHandle;
  const blobs = () => {
    const dir = join(d.root, "io.containerd.content.v1.content/blobs/sha256");
    return existsSync(dir) ? readdirSync(dir) : [];
  };
  beforeAll(async () => {
    d = await startDaemon("bunkerd", { extraConfig: keepUnreferenced });
  });
  afterAll(async () => {
    await d?.stop();
  });

  test("100 MB random blob: ingest, then get returns the same bytes", async () => {
    const data = random(100 << 20);
    const dg = sha256(data);
    const file = join(d.dir, "big.bin");
    writeFileSync(file, data);
    const ing = await d.ctr(
      ["content", "ingest", "--expected-digest", dg, "--expected-size", String(data.length), "big"],
      {
        stdin: data,
        timeoutMs: 120_000,
      },
    );
    expect(ing.stderr).toBe("");
    expect(ing.code).toBe(0);
    const out = join(d.dir, "out.bin");
    const get = Bun.spawn(["ctr", "--address", d.address, "content", "get", dg], { stdout: Bun.file(out) });
    expect(await get.exited).toBe(0);
    expect(sha256(readFileSync(out))).toBe(dg);
    expect(blobs()).toContain(dg.slice(7));
    // On disk exactly where containerd keeps it, read-only.
    const st = Bun.file(join(d.root, "io.containerd.content.v1.content/blobs/sha256", dg.slice(7)));
    expect(st.size).toBe(data.length);
  }, 180_000);

  test("a wrong expected digest is refused and nothing is stored", async () => {
    const data = random(4096);
    const wrong = sha256(new Uint8Array([1, 2, 3]));
    const before = blobs();
    const r = await d.ctr(
      ["content", "ingest", "--expected-digest", wrong, "--expected-size", "4096", "wrong"],
      { stdin: data },
    );
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("failed precondition");
    expect(blobs()).toEqual(before);
    const ls = await d.ctr(["content", "ls", "-q"]);
    expect(ls.stdout).not.toContain(sha256(data));
    // A wrong size too.
    const r2 = await d.ctr(
      ["content", "ingest", "--expected-digest", sha256(data), "--expected-size", "4097", "wrong2"],
      {
        stdin: data,
      },
    );
    expect(r2.code).not.toBe(0);
    expect(blobs()).toEqual(before);
  });

  test("label, ls with filters, rm", async () => {
    const a = random(1000);
    const b = random(2000);
    for (const [ref, data] of [
      ["a", a],
      ["b", b],
    ] as const) {
      expect(
        (await d.ctr(["content", "ingest", "--expected-digest", sha256(data), ref], { stdin: data })).code,
      ).toBe(0);
    }
    const labelled = await d.ctr(["content", "label", sha256(a), "team=blue", "tier=1"]);
    expect(labelled.stdout.trim().split(",").sort()).toEqual(["team=blue", "tier=1"]);
    const byLabel = await d.ctr(["content", "ls", "-q", "labels.team==blue"]);
    expect(byLabel.stdout.trim().split("\n")).toEqual([sha256(a)]);
    const byDigest = await d.ctr(["content", "ls", "-q", `digest==${sha256(b)}`]);
    expect(byDigest.stdout.trim()).toBe(sha256(b));
    const table = await d.ctr(["content", "ls"]);
    expect(table.stdout).toMatch(/^DIGEST\s+SIZE\s+AGE\s+LABELS/);
    expect(table.stdout).toMatch(new RegExp(`${sha256(a)}\\s+1kB\\s+.*(team=blue,tier=1|tier=1,team=blue)`));
    // Removing the label with an empty value.
    await d.ctr(["content", "label", sha256(a), "tier="]);
    expect((await d.ctr(["content", "ls", "-q", "labels.tier"])).stdout.trim()).toBe("");
    expect((await d.ctr(["content", "rm", sha256(b)])).code).toBe(0);
    expect((await d.ctr(["content", "ls", "-q"])).stdout).not.toContain(sha256(b));
    const info = await d.ctr(["content", "get", sha256(b)]);
    expect(info.code).not.toBe(0);
    expect(info.stderr).toContain("not found");
  });

  test("an interrupted ingest resumes from its stored offset", async () => {
    const data = random(8 << 20);
    const dg = sha256(data);
    // Feed half, then kill the client: the ingest stays with what it received.
    const p = Bun.spawn(
      [
        "ctr",
        "--address",
        d.address,
        "content",
        "ingest",
        "--expected-digest",
        dg,
        "--expected-size",
        String(data.length),
        "resume-me",
      ],
      {
        stdin: "pipe",
        stderr: "pipe",
      },
    );
    p.stdin.write(data.subarray(0, 4 << 20));
    await p.stdin.flush();
    // Wait until the daemon holds the first half.
    let active = "";
    for (let i = 0; i < 200 && !/resume-me\s+4\.\d+MB/.test(active); i++) {
      await Bun.sleep(50);
      active = (await d.ctr(["content", "active"])).stdout;
    }
    expect(active).toMatch(/resume-me\s+4\.\d+MB/);
    p.kill("SIGKILL");
    await p.exited;
    expect((await d.ctr(["content", "active"])).stdout).toContain("resume-me");
    // ctr seeks its input to the stored offset; the commit succeeds only if the first half was kept.
    const r = await d.ctr(
      ["content", "ingest", "--expected-digest", dg, "--expected-size", String(data.length), "resume-me"],
      {
        stdin: data,
      },
    );
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect((await d.ctr(["content", "ls", "-q"])).stdout).toContain(dg);
    expect((await d.ctr(["content", "active"])).stdout).not.toContain("resume-me");
  });

  test("two writers on one ref: the second is Unavailable, ref locked", async () => {
    // ctr retries an Unavailable writer forever (content.OpenWriter), so speak the API directly.
    const { Content, WriteAction } = await import(
      "@bunkerd/proto/containerd/services/content/v1/content_pb.ts"
    );
    const { createClient, Code } = await import("@connectrpc/connect");
    const { createDaemonTransport } = await import("@bunkerd/client");
    const client = createClient(Content, createDaemonTransport(d.address, { namespace: "default" }));
    let release!: () => void;
    const hold = new Promise<void>((r) => {
      release = r;
    });
    async function* first() {
      yield { action: WriteAction.STAT, ref: "locked-ref" };
      await hold;
    }
    const it = client.write(first())[Symbol.asyncIterator]();
    expect((await it.next()).value?.action).toBe(WriteAction.STAT);
    const second = client.write(
      (async function* () {
        yield { action: WriteAction.STAT, ref: "locked-ref" };
      })(),
    );
    const err = await (async () => {
      for await (const _ of second) {
      }
    })().catch((e) => e);
    expect(err?.code).toBe(Code.Unavailable);
    expect(err?.rawMessage).toMatch(/ref locked-ref locked/);
    release();
    await it.return?.();
  });

  test("namespaces are isolated; the same digest in another namespace is instant and copies nothing", async () => {
    const data = random(2 << 20);
    const dg = sha256(data);
    expect(
      (await d.ctr(["-n", "ns-a", "content", "ingest", "--expected-digest", dg, "x"], { stdin: data })).code,
    ).toBe(0);
    expect((await d.ctr(["-n", "ns-b", "content", "ls", "-q"])).stdout).not.toContain(dg);
    const get = await d.ctr(["-n", "ns-b", "content", "get", dg]);
    expect(get.code).not.toBe(0);
    expect(get.stderr).toContain("not found");
    // The writer in ns-b reports the blob complete at once: the client sends no data at all.
    const { Content, WriteAction } = await import(
      "@bunkerd/proto/containerd/services/content/v1/content_pb.ts"
    );
    const { createClient } = await import("@connectrpc/connect");
    const { createDaemonTransport } = await import("@bunkerd/client");
    const b = createClient(Content, createDaemonTransport(d.address, { namespace: "ns-b" }));
    const replies = [];
    for await (const r of b.write(
      (async function* () {
        yield { action: WriteAction.STAT, ref: "y", expected: dg, total: BigInt(data.length) };
        yield {
          action: WriteAction.COMMIT,
          ref: "y",
          offset: BigInt(data.length),
          total: BigInt(data.length),
          expected: dg,
        };
      })(),
    )) {
      replies.push(r);
    }
    expect(replies[0]?.offset).toBe(BigInt(data.length));
    expect(replies[1]?.digest).toBe(dg);
    expect((await d.ctr(["-n", "ns-b", "content", "ls", "-q"])).stdout).toContain(dg);
    // And ctr's own ingest of it in a third namespace succeeds the same way.
    const c = await d.ctr(
      [
        "-n",
        "ns-c",
        "content",
        "ingest",
        "--expected-digest",
        dg,
        "--expected-size",
        String(data.length),
        "z",
      ],
      {
        stdin: data,
      },
    );
    expect([c.code, c.stderr]).toEqual([0, ""]);
    expect(blobs().filter((x) => x === dg.slice(7)).length).toBe(1);
  });
});
