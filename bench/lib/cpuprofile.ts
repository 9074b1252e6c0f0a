/** Reads a `.cpuprofile` (Chrome format, as written by `bun --cpu-prof`) and ranks functions
 *  by self time: the samples whose top frame is that function, merged by name and location. */
import { readFileSync } from "node:fs";
import { relative } from "node:path";
import { REPO } from "../../test/harness/daemon.ts";
import { markdownTable, median } from "./stats.ts";

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

export function summarizeProfile(path: string, topN = 20): ProfileSummary {
  const p = JSON.parse(readFileSync(path, "utf8")) as CpuProfile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<string, HotFunction>();
  let sampledMs = 0;
  // Bun takes no samples while the thread sleeps and writes no "(idle)" nodes, so the gap after
  // the last sample before a sleep spans the sleep. Each sample stands for one sampling interval
  // (the median gap) instead.
  const ms = median(p.timeDeltas.filter((d) => d > 0)) / 1000;
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
