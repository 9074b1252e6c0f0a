/** Reads a `.cpuprofile` (Chrome format, as written by `bun --cpu-prof`) and ranks functions
 *  by self time: the samples whose top frame is that function, merged by name and location. */
import { readFileSync } from "node:fs";
import { relative } from "node:path";
import { REPO } from "../../test/harness/daemon.ts";
import { markdownTable } from "./stats.ts";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface HotFunction {
  name: string;
  location: string;
  selfMs: number;
  selfPct: number;
}

export interface ProfileSummary {
  /** Wall time the profile covers, ms. */
  durationMs: number;
  /** Time attributed to JS or native frames (the thread was running), ms. */
  sampledMs: number;
  top: HotFunction[];
}

/** `intervalUs` is the sampling interval bun ran with: 1000 µs unless `--cpu-prof-interval`. */
export function summarizeProfile(path: string, topN = 20, intervalUs = 1000): ProfileSummary {
  const p = JSON.parse(readFileSync(path, "utf8")) as CpuProfile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<string, HotFunction>();
  let sampledMs = 0;
  // Bun takes no samples while the thread sleeps and writes no "(idle)" nodes, so the gap after
  // the last sample before a sleep spans the sleep. Each sample stands for one sampling interval
  // instead. Not the median gap: on a mostly idle thread (a main thread that hands the work to a
  // worker) most gaps span sleeps, and the median gap overstated its busy time tenfold (3.55 s
  // from 362 samples, against 0.37 s of CPU in /proc for that thread).
  const ms = intervalUs / 1000;
  for (let i = 0; i < p.samples.length; i++) {
    const node = byId.get(p.samples[i]!);
    if (!node) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === "(idle)" || functionName === "(program)" || functionName === "(root)") continue;
    const path = url.startsWith("file://") ? url.slice("file://".length) : url;
    const file = path.startsWith("/") ? relative(REPO, path) : path || "[native code]";
    const location = lineNumber >= 0 ? `${file}:${lineNumber + 1}` : file;
    const key = `${functionName}\0${location}`;
    const h = self.get(key) ?? { name: functionName || "(anonymous)", location, selfMs: 0, selfPct: 0 };
    h.selfMs += ms;
    sampledMs += ms;
    self.set(key, h);
  }
  const top = [...self.values()].sort((a, b) => b.selfMs - a.selfMs).slice(0, topN);
  for (const h of top) h.selfPct = (h.selfMs / sampledMs) * 100;
  return { durationMs: (p.endTime - p.startTime) / 1000, sampledMs, top };
}

export function formatProfile(s: ProfileSummary): string {
  const rows = s.top.map((h) => [
    `${h.selfPct.toFixed(1)}%`,
    `${h.selfMs.toFixed(0)} ms`,
    `\`${h.name}\``,
    h.location,
  ]);
  return [
    `profile covers ${(s.durationMs / 1000).toFixed(1)} s; the main thread was sampled busy for ${(s.sampledMs / 1000).toFixed(2)} s`,
    "",
    markdownTable(["self %", "self", "function", "location"], rows),
  ].join("\n");
}

/** JSC's own sampling profiler (`BUN_JSC_useSamplingProfiler=1`,
 *  `BUN_JSC_samplingProfilerPath=DIR`) writes one text report per VM when the VM ends: the main
 *  thread's and every worker's, which `bun --cpu-prof` does not cover (it profiles the main
 *  thread only). Its "Top functions" section counts samples by the leaf frame (self time);
 *  names carry no file, only `name#hash:sourceID`, and native functions show `#<nil>`. */
export interface JscSamplingSummary {
  file: string;
  totalSamples: number;
  intervalUs: number;
  top: { name: string; samples: number; pct: number }[];
  /** "Tier breakdown" counts, e.g. FTL, Baseline, Host (native), C/C++. */
  tiers: Record<string, number>;
}

export function summarizeJscSampling(path: string): JscSamplingSummary {
  const text = readFileSync(path, "utf8");
  const totalSamples = Number(text.match(/Total samples: (\d+)/)?.[1] ?? 0);
  const intervalUs = Number(text.match(/Sampling rate: ([\d.]+) microseconds/)?.[1] ?? Number.NaN);
  const top: JscSamplingSummary["top"] = [];
  const section = text.split(/Top functions as[^\n]*\n/)[1]?.split(/\n\s*\n/)[0] ?? "";
  for (const m of section.matchAll(/^\s*(\d+)\s+'(.*)'\s*$/gm)) {
    const samples = Number(m[1]);
    top.push({ name: m[2]!, samples, pct: (samples / totalSamples) * 100 });
  }
  const tiers: Record<string, number> = {};
  const tierSection = text.split(/Tier breakdown:\n-+\n/)[1]?.split(/\n\s*\n/)[0] ?? "";
  for (const m of tierSection.matchAll(/^([\w/ ]+):\s+(\d+)/gm)) tiers[m[1]!.trim()] = Number(m[2]);
  return { file: path, totalSamples, intervalUs, top, tiers };
}

export function formatJscSampling(s: JscSamplingSummary, topN = 15): string {
  const ms = (n: number) => `${((n * s.intervalUs) / 1000).toFixed(0)} ms`;
  const tiers = Object.entries(s.tiers)
    .filter(([, n]) => n > 0)
    .map(([k, n]) => `${k} ${((n / s.totalSamples) * 100).toFixed(0)}%`)
    .join(", ");
  const rows = s.top.slice(0, topN).map((t) => [`${t.pct.toFixed(1)}%`, ms(t.samples), `\`${t.name}\``]);
  return [
    `${s.file}: ${s.totalSamples} samples (${ms(s.totalSamples)} busy); tiers: ${tiers}`,
    "",
    markdownTable(["self %", "self", "function#hash:sourceID"], rows),
  ].join("\n");
}
