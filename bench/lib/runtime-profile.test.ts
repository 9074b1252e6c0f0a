/** The runtime profile's arithmetic on a hand-made run: phases cut at the right calls, a shim's
 *  nested `runc delete` not counted twice, missing pieces as NaN, metrics text parsed per method. */
import { describe, expect, test } from "bun:test";
import {
  diffServerTimes,
  medianPhases,
  methodTimes,
  type ProfiledRun,
  parseServerTimes,
  phasesOf,
  shimLogEvents,
  shortMethod,
  timeline,
} from "./runtime-profile.ts";

const call = (method: string, start: number, end: number) => ({ method, start, end });
const exec = (what: string, start: number, end: number) => ({ what, start, end });

/** A containerd-like run: ctr spawned at 1000, shim `delete` inside Tasks/Delete runs its own runc. */
const run: ProfiledRun = {
  spawn: 1000,
  exit: 1300,
  calls: [
    call("Images/Get", 1010, 1011),
    call("Content/Info", 1012, 1013),
    call("Content/Read", 1013, 1014),
    call("Containers/Create", 1020, 1022),
    call("Tasks/Create", 1030, 1130),
    call("Tasks/Wait", 1131, 1160),
    call("Tasks/Start", 1131, 1150),
    call("Tasks/Delete", 1165, 1265),
    call("Containers/Delete", 1280, 1290),
  ],
  execs: [
    exec("containerd-shim-runc-v2 start", 1035, 1045),
    exec("runc create", 1050, 1110),
    exec("runc start", 1135, 1142),
    exec("runc delete", 1170, 1180),
    exec("containerd-shim-runc-v2 delete", 1200, 1230),
    exec("runc delete", 1210, 1220),
  ],
};

const byName = (r: ProfiledRun) => Object.fromEntries(phasesOf(r).map((p) => [p.name.split(" (")[0], p.ms]));

describe("phasesOf", () => {
  test("cuts the run at ctr's calls and the runtime's execs", () => {
    const p = byName(run);
    expect(p["ctr start"]).toBe(10);
    expect(p["first RPC → Tasks/Create"]).toBe(20);
    expect(p["Tasks/Create: shim `start` exec"]).toBe(10);
    expect(p["Tasks/Create: `runc create`"]).toBe(60);
    expect(p["Tasks/Create: the rest"]).toBe(30);
    expect(p["Tasks/Start: `runc start`"]).toBe(7);
    expect(p["Tasks/Start: the rest"]).toBe(12);
    expect(p["Start reply → Wait reply"]).toBe(10);
    expect(p["Tasks/Delete → last RPC end"]).toBe(25);
    expect(p["last RPC → ctr exit"]).toBe(10);
    expect(p.total).toBe(300);
  });

  test("a runc delete inside the shim's delete counts once, in the shim's exec", () => {
    const p = byName(run);
    expect(p["Tasks/Delete: `runc delete`"]).toBe(10);
    expect(p["Tasks/Delete: shim `delete` exec"]).toBe(30);
    expect(p["Tasks/Delete: the rest"]).toBe(60);
  });

  test("pieces missing from the trace are NaN; an exit known before Start replied is negative", () => {
    const r: ProfiledRun = {
      ...run,
      calls: run.calls.map((c) => (c.method === "Tasks/Wait" ? { ...c, end: 1148 } : c)),
      execs: run.execs.filter((e) => e.what !== "runc start"),
    };
    const p = byName(r);
    expect(p["Tasks/Start: `runc start`"]).toBeNaN();
    expect(p["Tasks/Start: the rest"]).toBe(19);
    expect(p["Start reply → Wait reply"]).toBe(-2);
  });

  test("medians per phase over runs skip the NaNs", () => {
    const shifted = { ...run, exit: 1400, execs: run.execs.filter((e) => e.what !== "runc create") };
    const m = Object.fromEntries(
      medianPhases([run, shifted, shifted]).map((p) => [p.name.split(" (")[0], p.ms]),
    );
    expect(m.total).toBe(400);
    expect(m["Tasks/Create: `runc create`"]).toBe(60);
  });
});

test("methodTimes counts calls per run and takes the median duration", () => {
  const m = methodTimes([run, run]);
  expect(m.get("Content/Info")).toEqual({ perRun: 1, ms: 1, unended: 0 });
  expect(m.get("Tasks/Delete")).toEqual({ perRun: 1, ms: 100, unended: 0 });
});

test("a call not seen to end is counted apart, not as a duration, and does not end the run", () => {
  const open = { ...run, calls: [...run.calls, call("Content/Read", 1295, Number.NaN)] };
  const m = methodTimes([open]);
  expect(m.get("Content/Read")).toEqual({ perRun: 2, ms: 1, unended: 1 });
  expect(byName(open)["last RPC → ctr exit"]).toBe(10);
  expect(timeline(open)).toContain("  295.0 → (no END_STREAM seen)  rpc  Content/Read");
});

test("shortMethod keeps Service/Method", () => {
  expect(shortMethod("/containerd.services.tasks.v1.Tasks/Create")).toBe("Tasks/Create");
  expect(shortMethod("Tasks/Create")).toBe("Tasks/Create");
});

test("timeline lists calls and execs from the spawn, merging a stretch of Content calls", () => {
  const t = timeline(run).split("\n");
  expect(t[0]).toBe("    0.0  ctr spawned");
  expect(t).toContain("   12.0 →    14.0  (   2.0 ms)  rpc  Content/Info + Content/Read, 2 calls");
  expect(t).toContain("  200.0 →   230.0  (  30.0 ms)  exec containerd-shim-runc-v2 delete");
  expect(t.at(-1)).toBe("  300.0  ctr exited");
});

test("parseServerTimes sums handling seconds per method; diffServerTimes keeps what moved", () => {
  const metrics = (n: number) =>
    [
      "# TYPE grpc_server_handling_seconds histogram",
      `grpc_server_handling_seconds_bucket{grpc_method="Create",grpc_service="containerd.services.tasks.v1.Tasks",grpc_type="unary",le="0.005"} 0`,
      `grpc_server_handling_seconds_sum{grpc_method="Create",grpc_service="containerd.services.tasks.v1.Tasks",grpc_type="unary"} ${0.25 * n}`,
      `grpc_server_handling_seconds_count{grpc_method="Create",grpc_service="containerd.services.tasks.v1.Tasks",grpc_type="unary"} ${n}`,
      'grpc_server_handling_seconds_sum{grpc_type="unary",grpc_service="containerd.services.version.v1.Version",grpc_method="Version"} 0.5',
      'grpc_server_handling_seconds_count{grpc_type="unary",grpc_service="containerd.services.version.v1.Version",grpc_method="Version"} 2',
      "",
    ].join("\n");
  const before = parseServerTimes(metrics(1));
  expect(before.get("Tasks/Create")).toEqual({ sum: 0.25, count: 1 });
  expect(before.get("Version/Version")).toEqual({ sum: 0.5, count: 2 });
  const d = diffServerTimes(before, parseServerTimes(metrics(3)));
  expect([...d.keys()]).toEqual(["Tasks/Create"]);
  expect(d.get("Tasks/Create")).toEqual({ sum: 0.5, count: 2 });
});

test("our shim's log marks when the new shim listens, inside its `start` exec", () => {
  const log = [
    'time="2026-11-23T18:45:31.213Z" level=info msg="shim serving on /run/bunkerd/s/ab12 (namespace bench, pid 7)"',
    'time="2026-11-23T18:45:31.100Z" level=info msg="loading plugin"',
    'time="2026-11-23T18:45:31.456Z" level=info msg="shim shutting down"',
  ].join("\n");
  const events = shimLogEvents(log);
  const t = Date.parse("2026-11-23T18:45:31.213Z");
  expect(events).toEqual([
    { what: "(log) shim listening", start: t, end: t },
    { what: "(log) shim shutting down", start: t + 243, end: t + 243 },
  ]);
  const r: ProfiledRun = {
    spawn: t - 100,
    exit: t + 500,
    calls: [call("Tasks/Create", t - 50, t + 100)],
    execs: [exec("containerd-shim-bunker-v2 start", t - 40, t + 5), events[0]!],
  };
  const p = byName(r);
  expect(p["Tasks/Create: shim `start` exec"]).toBe(45);
  expect(p["… of which until the new shim listens"]).toBe(40);
  expect(timeline(r)).toContain("  100.0 →   100.0  (   0.0 ms)  log  shim listening");
});
