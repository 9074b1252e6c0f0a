// Stats of a real runc container's cgroup (v1 on this host) decode as containerd's cgroups
// Metrics message under the type URL ctr expects; the v2 reader is checked on a file tree laid
// out like a cgroup2 directory, since this host's cgroup2 tree has no controllers.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { fromBinary } from "@bufbuild/protobuf";
import { MetricsSchema as V1 } from "@bunkerd/proto/io/containerd/cgroups/v1/metrics_pb.ts";
import { MetricsSchema as V2 } from "@bunkerd/proto/io/containerd/cgroups/v2/metrics_pb.ts";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cgroupPaths } from "./cgroup-paths.ts";
import { readMetricsV2, readStats } from "./cgroups.ts";
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

describe.skipIf(!hasRunc)("cgroup v1 with runc", () => {
  test("a running container's stats: memory usage, its limit, pids, cpu, oom control", async () => {
    const limit = 64 * 1024 * 1024;
    const b = await RuncBundle.create(reaper, {
      // Some resident memory and a second process, then idle.
      args: ["sh", "-c", "x=$(head -c 2000000 /dev/zero | tr '\\0' a); sleep 30 & wait"],
      memoryLimit: limit,
    });
    try {
      const pid = await b.createContainer();
      await b.start();
      const cg = cgroupPaths(pid);
      expect(cg.version).toBe(1);
      // Wait until both processes are in (sh and sleep).
      let any = await readStats(pid);
      for (let i = 0; i < 100 && (fromBinary(V1, any.value).pids?.current ?? 0n) < 2n; i++) {
        await Bun.sleep(20);
        any = await readStats(pid);
      }
      expect(any.typeUrl).toBe("io.containerd.cgroups.v1.Metrics");
      const m = fromBinary(V1, any.value);
      expect(m.pids?.current).toBeGreaterThanOrEqual(2n);
      expect(m.memory?.usage?.usage).toBeGreaterThan(0n);
      expect(m.memory?.usage?.limit).toBe(BigInt(limit));
      expect(m.memory?.hierarchicalMemoryLimit).toBe(BigInt(limit));
      expect(m.memory?.totalRss).toBeGreaterThan(0n);
      expect(m.cpu?.usage?.total).toBeGreaterThan(0n);
      expect(m.cpu?.usage?.perCpu.length).toBeGreaterThan(0);
      expect(m.memoryOomControl?.oomKill).toBe(0n);
    } finally {
      await b.cleanup();
    }
  });

  test("a pid that does not exist is a not-found error naming it", async () => {
    await expect(readStats(2 ** 22 + 12345)).rejects.toMatchObject({ code: "ENOENT" });
  });
});

describe("cgroup v2 reader", () => {
  const dir = mkdtempSync(join(tmpdir(), "bunkerd-cgroup2-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test("reads pids, cpu.stat, memory.stat, limits ('max'), io.stat and memory.events", async () => {
    const files: Record<string, string> = {
      "pids.current": "3\n",
      "pids.max": "max\n",
      "cpu.stat":
        "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 4\nnr_throttled 1\nthrottled_usec 9\n",
      "memory.stat": "anon 4096\nfile 8192\nkernel_stack 16384\npgfault 77\nthp_collapse_alloc 2\n",
      "memory.current": "123456\n",
      "memory.max": "max\n",
      "memory.peak": "200000\n",
      "memory.swap.current": "0\n",
      "memory.swap.max": "1048576\n",
      "memory.events": "low 0\nhigh 1\nmax 2\noom 3\noom_kill 4\n",
      "io.stat": "8:0 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0 dios=0\n",
    };
    for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
    const m = fromBinary(V2, (await import("@bufbuild/protobuf")).toBinary(V2, await readMetricsV2(dir)));
    expect(V2.typeName).toBe("io.containerd.cgroups.v2.Metrics");
    expect(m.pids).toMatchObject({ current: 3n, limit: 0xffffffffffffffffn });
    expect(m.cpu).toMatchObject({
      usageUsec: 1500n,
      userUsec: 1000n,
      systemUsec: 500n,
      nrPeriods: 4n,
      nrThrottled: 1n,
      throttledUsec: 9n,
    });
    expect(m.memory).toMatchObject({
      anon: 4096n,
      file: 8192n,
      kernelStack: 16384n,
      pgfault: 77n,
      thpCollapseAlloc: 2n,
      usage: 123456n,
      usageLimit: 0xffffffffffffffffn,
      maxUsage: 200000n,
      swapLimit: 1048576n,
    });
    expect(m.memoryEvents).toMatchObject({ low: 0n, high: 1n, max: 2n, oom: 3n, oomKill: 4n });
    expect(m.io?.usage).toHaveLength(1);
    expect(m.io?.usage[0]).toMatchObject({
      major: 8n,
      minor: 0n,
      rbytes: 10n,
      wbytes: 20n,
      rios: 1n,
      wios: 2n,
    });
  });

  test("a malformed counter is an error naming the file", async () => {
    writeFileSync(join(dir, "pids.current"), "lots\n");
    await expect(readMetricsV2(dir)).rejects.toThrow(/pids\.current: "lots" is not a number/);
  });
});
