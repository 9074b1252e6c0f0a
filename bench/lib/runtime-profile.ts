/** Where the time of one `ctr run --rm busybox true` goes, for the `runtime` scenario's profile:
 *  - ctr's side: every gRPC call's start and end, through the tracing proxy (`grpc-trace.ts`);
 *  - the daemon's side: `grpc_server_handling_seconds` sums and counts per method from its
 *    /v1/metrics (containerd's `[metrics] grpc_histogram`; bunkerd exports the same), before and
 *    after the runs;
 *  - the processes the runtime execs: `runc` and the shim binaries are wrapped by bash scripts
 *    first on PATH that log each invocation's start and end (`$EPOCHREALTIME`, no fork), so the
 *    shim's `start` and runc's create/start/delete are timed on the same clock as the calls.
 *  The wrappers add a bash start (~2 ms) to each exec: profiled runs are not timing runs. */
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { TracedCall } from "./grpc-trace.ts";
import { median } from "./stats.ts";

export interface ExecRecord {
  /** e.g. "runc create", "containerd-shim-runc-v2 start". */
  what: string;
  start: number;
  end: number;
}

export interface Wrappers {
  dir: string;
  /** Exec records logged since the last call (epoch ms), and clears the log. */
  take(): ExecRecord[];
  cleanup(): void;
}

const RUNC_SUBCOMMANDS = new Set([
  "create",
  "start",
  "delete",
  "kill",
  "state",
  "run",
  "exec",
  "ps",
  "update",
]);

/** Wraps each named binary (as the daemon's PATH would find it, `pathDirs` first) in a logging
 *  bash script; put `dir` first on the daemon's PATH. */
export function makeWrappers(names: string[], pathDirs: string[]): Wrappers {
  const dir = mkdtempSync("/tmp/bench-wrap-");
  const log = join(dir, "exec.log");
  writeFileSync(log, "");
  const path = [...pathDirs, process.env.PATH ?? ""].join(":");
  for (const name of names) {
    const real = Bun.which(name, { PATH: path });
    if (!real) continue;
    writeFileSync(
      join(dir, name),
      [
        "#!/bin/bash",
        "s=$EPOCHREALTIME",
        `${JSON.stringify(real)} "$@"`,
        "rc=$?",
        `printf '%s %s %s %s\\n' "$s" "$EPOCHREALTIME" ${name} "$*" >> ${JSON.stringify(log)}`,
        "exit $rc",
        "",
      ].join("\n"),
    );
    chmodSync(join(dir, name), 0o755);
  }
  return {
    dir,
    take() {
      const text = readFileSync(log, "utf8");
      writeFileSync(log, "");
      const out: ExecRecord[] = [];
      for (const line of text.split("\n")) {
        const [s, e, name, ...args] = line.split(" ");
        if (!s || !e || !name) continue;
        let sub: string | undefined;
        if (name === "runc") sub = args.find((a) => RUNC_SUBCOMMANDS.has(a));
        else sub = args.at(-1) === "start" || args.at(-1) === "delete" ? args.at(-1) : "serve";
        out.push({ what: `${name} ${sub ?? "?"}`, start: Number(s) * 1000, end: Number(e) * 1000 });
      }
      return out;
    },
    cleanup() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Point events from a daemon log our shim writes into (both daemons copy a shim's log lines
 *  as they are): when the serving shim listens and when it shuts down, ms precision. */
export function shimLogEvents(text: string): ExecRecord[] {
  const out: ExecRecord[] = [];
  for (const m of text.matchAll(/^time="([^"]+)" level=\w+ msg="(shim serving on|shim shutting down)/gm)) {
    const t = Date.parse(m[1]!);
    if (!Number.isNaN(t))
      out.push({
        what: m[2] === "shim shutting down" ? "(log) shim shutting down" : "(log) shim listening",
        start: t,
        end: t,
      });
  }
  return out;
}

/** A free loopback port for the daemon's metrics listener. */
export function freePort(): number {
  const s = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = s.port;
  s.stop(true);
  return port;
}

export const metricsConfig = (port: number) =>
  ["[metrics]", `  address = "127.0.0.1:${port}"`, "  grpc_histogram = true", ""].join("\n");

/** Per "Service/Method": summed handling seconds and call count. */
export type ServerTimes = Map<string, { sum: number; count: number }>;

export async function scrapeServerTimes(port: number): Promise<ServerTimes> {
  return parseServerTimes(await (await fetch(`http://127.0.0.1:${port}/v1/metrics`)).text());
}

/** The handling-time sums and counts out of Prometheus text, summed over grpc_type. */
export function parseServerTimes(text: string): ServerTimes {
  const out: ServerTimes = new Map();
  for (const m of text.matchAll(/^grpc_server_handling_seconds_(sum|count)\{([^}]*)\}\s+(\S+)$/gm)) {
    const labels = m[2]!;
    const svc = /grpc_service="([^"]*)"/.exec(labels)?.[1] ?? "?";
    const method = /grpc_method="([^"]*)"/.exec(labels)?.[1] ?? "?";
    const key = `${svc.split(".").at(-1)}/${method}`;
    const v = out.get(key) ?? { sum: 0, count: 0 };
    v[m[1] as "sum" | "count"] += Number(m[3]);
    out.set(key, v);
  }
  return out;
}

/** after − before, per method; methods with no new calls dropped. */
export function diffServerTimes(before: ServerTimes, after: ServerTimes): ServerTimes {
  const out: ServerTimes = new Map();
  for (const [k, a] of after) {
    const b = before.get(k) ?? { sum: 0, count: 0 };
    if (a.count > b.count) out.set(k, { sum: a.sum - b.sum, count: a.count - b.count });
  }
  return out;
}

/** One profiled `ctr run --rm`, all times epoch ms. */
export interface ProfiledRun {
  spawn: number;
  exit: number;
  calls: { method: string; start: number; end: number }[];
  execs: ExecRecord[];
}

/** "containerd.services.tasks.v1.Tasks/Create" → "Tasks/Create". */
export const shortMethod = (path: string) => path.replace(/^\/?(?:[\w]+\.)*(\w+\/\w+)$/, "$1");

/** Traced calls (ms since `traceT0`, performance.now() clock) to epoch ms. A call whose end the
 *  proxy never saw (no END_STREAM from the server before ctr moved on, as with a Content/Read
 *  stream ctr stops reading once it has its bytes) gets end NaN, not a made-up duration. */
export function callsToEpoch(calls: TracedCall[], traceT0: number) {
  const base = performance.timeOrigin + traceT0;
  return calls.map((c) => ({
    method: shortMethod(c.method),
    start: base + c.start,
    end: c.end === undefined ? Number.NaN : base + c.end,
  }));
}

export interface Phase {
  name: string;
  ms: number;
}

/** The run cut into consecutive phases (each NaN when a piece is missing from the trace). */
export function phasesOf(r: ProfiledRun): Phase[] {
  const call = (m: string) => r.calls.find((c) => c.method === m);
  const inside = (e: ExecRecord, w: { start: number; end: number }) =>
    e.start >= w.start - 1 && e.end <= w.end + 1;
  // A shim's `delete` runs `runc delete` itself: that one counts in the shim's exec, not twice.
  const shimExecs = r.execs.filter((e) => !e.what.startsWith("runc ") && !e.what.startsWith("(log)"));
  const exec = (what: (w: string) => boolean, within?: { start: number; end: number }) =>
    r.execs.filter(
      (e) =>
        what(e.what) &&
        (!within || inside(e, within)) &&
        !(e.what.startsWith("runc ") && shimExecs.some((s) => inside(e, s))),
    );
  const dur = (xs: ExecRecord[]) => (xs.length ? xs.reduce((t, e) => t + (e.end - e.start), 0) : Number.NaN);
  const first = r.calls.reduce((a, c) => Math.min(a, c.start), Number.POSITIVE_INFINITY);
  const last = r.calls.reduce(
    (a, c) => (Number.isNaN(c.end) ? a : Math.max(a, c.end)),
    Number.NEGATIVE_INFINITY,
  );
  const create = call("Tasks/Create");
  const start = call("Tasks/Start");
  const wait = call("Tasks/Wait");
  const del = call("Tasks/Delete");
  const span = (a?: number, b?: number) => (a === undefined || b === undefined ? Number.NaN : b - a);
  const shimStartExec = exec((w) => w.endsWith(" start") && !w.startsWith("runc"), create)[0];
  const shimStart = shimStartExec ? shimStartExec.end - shimStartExec.start : Number.NaN;
  const listening = shimStartExec && exec((w) => w === "(log) shim listening", shimStartExec)[0];
  const runcCreate = dur(exec((w) => w === "runc create", create));
  const runcStart = dur(exec((w) => w === "runc start", start));
  const runcDelete = dur(exec((w) => w === "runc delete", del));
  const shimDelete = dur(exec((w) => w.endsWith(" delete") && !w.startsWith("runc"), del));
  const createMs = span(create?.start, create?.end);
  const startMs = span(start?.start, start?.end);
  const delMs = span(del?.start, del?.end);
  const nz = (x: number) => (Number.isNaN(x) ? 0 : x);
  return [
    { name: "ctr start (Go) → first RPC", ms: first - r.spawn },
    { name: "first RPC → Tasks/Create (image, snapshot, container)", ms: span(first, create?.start) },
    { name: "Tasks/Create: shim `start` exec", ms: shimStart },
    {
      name: "… of which until the new shim listens (our shim's log, ms precision)",
      ms: span(shimStartExec?.start, listening?.start),
    },
    { name: "Tasks/Create: `runc create`", ms: runcCreate },
    {
      name: "Tasks/Create: the rest (daemon, shim ttrpc, bundle, mounts)",
      ms: createMs - nz(shimStart) - nz(runcCreate),
    },
    { name: "Tasks/Create → Tasks/Start (ctr)", ms: span(create?.end, start?.start) },
    { name: "Tasks/Start: `runc start`", ms: runcStart },
    { name: "Tasks/Start: the rest", ms: startMs - nz(runcStart) },
    {
      name: "Start reply → Wait reply (exit delivery; < 0: exit known before Start replied)",
      ms: span(start?.end, wait?.end),
    },
    { name: "Wait reply → Tasks/Delete (ctr)", ms: span(wait?.end, del?.start) },
    { name: "Tasks/Delete: `runc delete`", ms: runcDelete },
    { name: "Tasks/Delete: shim `delete` exec (its own `runc delete` inside)", ms: shimDelete },
    {
      name: "Tasks/Delete: the rest (shim shutdown, bundle, unmount)",
      ms: delMs - nz(runcDelete) - nz(shimDelete),
    },
    { name: "Tasks/Delete → last RPC end (container, snapshot removal)", ms: span(del?.end, last) },
    { name: "last RPC → ctr exit", ms: r.exit - last },
    { name: "total (ctr spawn → exit)", ms: r.exit - r.spawn },
  ];
}

/** Median per phase over runs (phase order from the first run). */
export function medianPhases(runs: ProfiledRun[]): Phase[] {
  const all = runs.map(phasesOf);
  if (!all.length) return [];
  return all[0]!.map((p, i) => ({
    name: p.name,
    ms: median(all.map((ph) => ph[i]!.ms).filter((x) => !Number.isNaN(x))),
  }));
}

/** Per method: calls per run, median client-seen duration (ms) of the calls seen to end, and how
 *  many were not seen to end; in first-seen order. */
export function methodTimes(
  runs: ProfiledRun[],
): Map<string, { perRun: number; ms: number; unended: number }> {
  const by = new Map<string, number[]>();
  for (const r of runs)
    for (const c of r.calls) by.set(c.method, [...(by.get(c.method) ?? []), c.end - c.start]);
  const out = new Map<string, { perRun: number; ms: number; unended: number }>();
  for (const [m, xs] of by) {
    const ended = xs.filter((x) => !Number.isNaN(x));
    out.set(m, { perRun: xs.length / runs.length, ms: median(ended), unended: xs.length - ended.length });
  }
  return out;
}

/** The median-total run's timeline, one line per call or exec, ms from ctr's spawn. */
export function timeline(r: ProfiledRun): string {
  // ctr reads the image's blobs as Content/Info + Content/Read pairs: one line per unbroken stretch.
  const calls: { at: number; end: number; what: string }[] = [];
  let n = 0;
  for (const c of [...r.calls].sort((a, b) => a.start - b.start)) {
    const last = calls.at(-1);
    if (c.method.startsWith("Content/") && last && n > 0) {
      if (!Number.isNaN(c.end)) last.end = Math.max(Number.isNaN(last.end) ? c.end : last.end, c.end);
      last.what = `rpc  Content/Info + Content/Read, ${++n} calls`;
      continue;
    }
    n = c.method.startsWith("Content/") ? 1 : 0;
    calls.push({ at: c.start, end: c.end, what: `rpc  ${c.method}` });
  }
  const rows = [
    ...calls,
    ...r.execs.map((e) => ({
      at: e.start,
      end: e.end,
      what: e.what.startsWith("(log) ") ? `log  ${e.what.slice(6)}` : `exec ${e.what}`,
    })),
  ].sort((a, b) => a.at - b.at);
  const f = (x: number) => (x - r.spawn).toFixed(1).padStart(7);
  return [
    `${f(r.spawn)}  ctr spawned`,
    ...rows.map((x) =>
      Number.isNaN(x.end)
        ? `${f(x.at)} → (no END_STREAM seen)  ${x.what}`
        : `${f(x.at)} → ${f(x.end)}  (${(x.end - x.at).toFixed(1).padStart(6)} ms)  ${x.what}`,
    ),
    `${f(r.exit)}  ctr exited`,
  ].join("\n");
}
