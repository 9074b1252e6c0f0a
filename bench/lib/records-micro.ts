/** The metadata worker's side of a pull's content-record calls, alone: `bun bench/lib/records-micro.ts
 *  [rounds] [full|normal]`. One round is what a pull does per blob (startIngest in a lease, Info,
 *  commit, Info, a label Update, a Status miss) against ContentRecords on a file database in a temp
 *  dir, in one thread with no ports or sockets: CPU per round is what the records code costs,
 *  steady even on a busy machine. `normal` (the default) runs with synchronous = NORMAL so fsync
 *  waits stay out of the wall time; `full` as bunkerd runs. Not part of a scenario: a probe for
 *  changes to content-records.ts and db.ts (bench/RESULTS.md, pull section). */
import { mkdtempSync, rmSync } from "node:fs";
import { ContentRecords } from "../../apps/daemon/src/plugins/metadata/content-records.ts";
import { openMetadata, write } from "../../apps/daemon/src/plugins/metadata/db.ts";
import { createLease } from "../../apps/daemon/src/plugins/metadata/leases.ts";

const rounds = Number(Bun.argv[2] ?? 1500);
const sync = Bun.argv[3] === "full" ? "FULL" : "NORMAL";
const dir = mkdtempSync("/tmp/bench-records-");
try {
  const db = openMetadata(`${dir}/meta.db`);
  db.$client.run(`PRAGMA synchronous = ${sync}`);
  const records = new ContentRecords(db);
  const ns = "bench";
  write(db, (tx) => createLease(tx, ns, "pull", {}));
  let n = 0;
  const round = async () => {
    const digest = `sha256:${(n++).toString(16).padStart(64, "0")}`;
    const ref = `ref-${n}`;
    await records.startIngest(ns, ref, { expected: digest, lease: "pull" });
    await records.info(ns, digest).catch(() => {});
    await records.commit(ns, { digest, size: 10, lease: "pull", ref, labels: { a: "b" } });
    await records.info(ns, digest);
    await records.update(ns, { digest, labels: { "containerd.io/uncompressed": digest } }, [
      "labels.containerd.io/uncompressed",
    ]);
    await records.ingest(ns, "absent").catch(() => {});
  };
  for (let i = 0; i < 50; i++) await round(); // JIT warm-up
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < rounds; i++) await round();
  const wallUs = ((performance.now() - t0) * 1000) / rounds;
  const cpu = process.cpuUsage(cpu0);
  console.log(
    `${rounds} rounds, synchronous=${sync}: ${wallUs.toFixed(0)} µs wall, ` +
      `${((cpu.user + cpu.system) / rounds).toFixed(0)} µs CPU per round`,
  );
  db.$client.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
