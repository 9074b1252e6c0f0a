/** Per-call latency of small sequential unary calls, bunkerd against containerd on the same
 *  run: one call kind per service placement (host thread, metadata worker, content worker
 *  through its metadata proxy, snapshotter worker), as ctr makes them before a task starts,
 *  and one small server-streaming Content.Read (ctr reads manifests and configs so).
 *
 *    bun bench/lib/rpc-latency.ts [--count 300] [--gap-ms 0,3] [--only bunkerd|containerd]
 *        [--baseline DIR]   (also a bunkerd run from another checkout's sources, e.g. a copy of
 *                            the tree before a change: column "baseline")
 *        [--rounds 1]       (repeat the whole table, daemons interleaved, to see the spread)
 *        [--on-host GROUPS] (also this tree's bunkerd with those worker groups' plugins on the
 *                            main thread, BUNKERD_EXPERIMENT_ON_HOST: column "on-host")
 *        [--keep]           (leave the daemons running, print their sockets: for profiling)
 *
 *  The client is rpc-latency-client.mjs under Node (one connection, one call at a time). */
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { cleanupDir, ctrAt, type DaemonHandle, killShims, startDaemon } from "../../test/harness/daemon.ts";
import { versionOk } from "../../test/harness/grpc.ts";

const { values } = parseArgs({
  options: {
    count: { type: "string", default: "300" },
    "gap-ms": { type: "string", default: "0,3" },
    only: { type: "string" },
    keep: { type: "boolean", default: false },
    baseline: { type: "string" },
    rounds: { type: "string", default: "1" },
    "on-host": { type: "string" },
  },
});

const NS = "bench";
const BLOB = Buffer.from("rpc-latency blob\n");
const BLOB_DIGEST = `sha256:${createHash("sha256").update(BLOB).digest("hex")}`;

/** Protobuf by hand: length-delimited fields only. */
function field(n: number, value: Uint8Array | string): Buffer {
  const bytes = typeof value === "string" ? Buffer.from(value) : Buffer.from(value);
  return Buffer.concat([Buffer.from([(n << 3) | 2]), varint(bytes.length), bytes]);
}
function varint(v: number): Buffer {
  const out: number[] = [];
  while (v > 0x7f) {
    out.push((v & 0x7f) | 0x80);
    v >>>= 7;
  }
  out.push(v);
  return Buffer.from(out);
}

const container = field(
  1,
  Buffer.concat([
    field(1, "rpcbench"),
    field(4, field(1, "io.containerd.runc.v2")),
    field(
      5,
      Buffer.concat([field(1, "types.containerd.io/opencontainers/runtime-spec/1/Spec"), field(2, "{}")]),
    ),
  ]),
);

const calls = [
  { name: "Version", path: "/containerd.services.version.v1.Version/Version" },
  { name: "Namespaces.List", path: "/containerd.services.namespaces.v1.Namespaces/List" },
  {
    name: "Containers.Get",
    path: "/containerd.services.containers.v1.Containers/Get",
    hex: field(1, "rpcbench").toString("hex"),
    namespace: NS,
  },
  { name: "Leases.List", path: "/containerd.services.leases.v1.Leases/List", namespace: NS },
  {
    name: "Content.Info",
    path: "/containerd.services.content.v1.Content/Info",
    hex: field(1, BLOB_DIGEST).toString("hex"),
    namespace: NS,
  },
  {
    name: "Content.Read",
    path: "/containerd.services.content.v1.Content/Read",
    hex: field(1, BLOB_DIGEST).toString("hex"),
    namespace: NS,
  },
  {
    name: "Snapshots.Stat",
    path: "/containerd.services.snapshots.v1.Snapshots/Stat",
    hex: Buffer.concat([field(1, "overlayfs"), field(2, "rpcbench-key")]).toString("hex"),
    namespace: NS,
  },
];

/** ctr's ingest and prepare run under a temporary lease: containerd's GC removes what they made
 *  once it ends, unless a gc.root label lands first, so both are retried until they stick. */
async function seed(d: DaemonHandle): Promise<void> {
  const root = "containerd.io/gc.root=rpc-latency";
  for (let i = 0; ; i++) {
    const ingest = await d.ctr(
      [
        "-n",
        NS,
        "content",
        "ingest",
        "--expected-size",
        String(BLOB.length),
        "--expected-digest",
        BLOB_DIGEST,
        "rpc-blob",
      ],
      { stdin: BLOB },
    );
    if (ingest.code !== 0) throw new Error(`${d.kind}: content ingest: ${ingest.stderr}`);
    await d.ctr(["-n", NS, "content", "label", BLOB_DIGEST, root]);
    await d.ctr(["-n", NS, "snapshots", "prepare", "rpcbench-key"]);
    await d.ctr(["-n", NS, "snapshots", "label", "rpcbench-key", root]);
    await Bun.sleep(300);
    const info = await d.ctr(["-n", NS, "content", "ls", "-q"]);
    const snaps = await d.ctr(["-n", NS, "snapshots", "ls"]);
    if (info.stdout.includes(BLOB_DIGEST) && snaps.stdout.includes("rpcbench-key")) break;
    if (i === 5) throw new Error(`${d.kind}: seeding did not stick`);
  }
  await client(
    d,
    [
      {
        name: "seed",
        path: "/containerd.services.containers.v1.Containers/Create",
        hex: container.toString("hex"),
        namespace: NS,
      },
    ],
    0,
    0,
    0,
  );
}

async function client(
  d: DaemonHandle,
  specs: object[],
  count: number,
  gap: number,
  warmup = 20,
): Promise<Record<string, { p50: number; mean: number; p90: number; min: number }>> {
  const p = Bun.spawn(
    [
      "node",
      join(import.meta.dir, "rpc-latency-client.mjs"),
      "--socket",
      d.address,
      "--calls",
      JSON.stringify(specs),
      "--count",
      String(count),
      "--gap-ms",
      String(gap),
      "--warmup",
      String(warmup),
    ],
    { stdout: "pipe", stderr: "pipe" },
  );
  const [out, err, code] = await Promise.all([
    new Response(p.stdout).text(),
    new Response(p.stderr).text(),
    p.exited,
  ]);
  if (code !== 0) throw new Error(`${d.kind}: client failed: ${err}`);
  return JSON.parse(out);
}

type Kind = "bunkerd" | "containerd" | "baseline" | "on-host";

/** bunkerd from another checkout's sources (the harness starts only this tree's). */
async function startBaseline(tree: string): Promise<DaemonHandle> {
  const dir = mkdtempSync("/tmp/bkbase-");
  const address = join(dir, "d.sock");
  const configPath = join(dir, "config.toml");
  mkdirSync(join(dir, "root"));
  writeFileSync(
    configPath,
    `version = 2\nroot = "${dir}/root"\nstate = "${dir}/state"\n[grpc]\n  address = "${address}"\n[ttrpc]\n  address = "${address}.ttrpc"\n`,
  );
  const proc = Bun.spawn(["bun", join(tree, "apps/daemon/src/main.ts"), "--config", configPath], {
    stdout: Bun.file(join(dir, "daemon.log")),
    stderr: Bun.file(join(dir, "daemon.log")),
    stdin: "ignore",
  });
  const deadline = Date.now() + 30_000;
  while (!(await versionOk(address))) {
    if (Date.now() > deadline || proc.exitCode !== null)
      throw new Error(`baseline bunkerd did not start (${dir})`);
    await Bun.sleep(50);
  }
  let stopped: Promise<number | null> | undefined;
  return {
    kind: "bunkerd",
    dir,
    root: join(dir, "root"),
    state: join(dir, "state"),
    address,
    ttrpcAddress: `${address}.ttrpc`,
    configPath,
    proc,
    pid: proc.pid,
    log: () => "",
    ctr: ctrAt(address),
    restart: () => Promise.reject(new Error("not supported")),
    stop() {
      stopped ??= (async () => {
        proc.kill("SIGTERM");
        const code = await proc.exited;
        killShims(dir, join(dir, "state"));
        cleanupDir(dir);
        return code;
      })();
      return stopped;
    },
  };
}

const kinds: Kind[] = values.only ? [values.only as Kind] : ["bunkerd", "containerd"];
if (values.baseline) kinds.splice(1, 0, "baseline");
if (values["on-host"]) kinds.splice(1, 0, "on-host");
const daemons = new Map<Kind, DaemonHandle>();
try {
  for (const k of kinds) {
    const d =
      k === "baseline"
        ? await startBaseline(values.baseline!)
        : k === "on-host"
          ? await startDaemon("bunkerd", { env: { BUNKERD_EXPERIMENT_ON_HOST: values["on-host"]! } })
          : await startDaemon(k);
    daemons.set(k, d);
    await seed(d);
  }
  if (values.keep) {
    for (const [k, d] of daemons) console.log(`${k} pid ${d.pid} socket ${d.address}`);
    await new Promise((r) => process.once("SIGINT", r));
  }
  for (let round = 0; round < Number(values.rounds); round++) {
    for (const gap of values["gap-ms"]!.split(",").map(Number)) {
      const results = new Map<Kind, Awaited<ReturnType<typeof client>>>();
      for (const [k, d] of daemons) results.set(k, await client(d, calls, Number(values.count), gap));
      console.log(`\ngap ${gap} ms between calls, ${values.count} calls each (ms: p50 / mean / p90)`);
      console.log(`${"call".padEnd(18)}${kinds.map((k) => k.padEnd(26)).join("")}`);
      for (const c of calls) {
        const cells = kinds.map((k) => {
          const r = results.get(k)![c.name]!;
          return `${r.p50.toFixed(3)} / ${r.mean.toFixed(3)} / ${r.p90.toFixed(3)}`.padEnd(26);
        });
        console.log(`${c.name.padEnd(18)}${cells.join("")}`);
      }
    }
  }
} finally {
  for (const d of daemons.values()) await d.stop();
}
