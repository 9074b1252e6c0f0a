/** `[plugins."io.containerd.gc.v1.scheduler"]`: containerd 1.6's `gc/scheduler` config, same
 *  keys, defaults and types. Durations are Go duration strings. */
import { invalidArgument } from "@bunkerd/plugin-api";
import { parseDuration } from "../../config/duration.ts";

export interface GcConfig {
  /** Most of real time scheduled collections may take (0.02 = 20 ms a second); clamped to [0, 0.5]. */
  pause_threshold: number;
  /** Collect after this many deletions; 0: any deletion schedules one, when none is scheduled. */
  deletion_threshold: number;
  /** Collect at the next scheduled time after this many mutations; 0: mutations alone never do. */
  mutation_threshold: number;
  /** How long after a trigger to collect. */
  schedule_delay: string;
  /** When to collect first after start-up. */
  startup_delay: string;
}

export const defaultConfig: GcConfig = {
  pause_threshold: 0.02,
  deletion_threshold: 0,
  mutation_threshold: 100,
  schedule_delay: "0ms",
  startup_delay: "100ms",
};

/** The scheduler's settings in numbers: durations in milliseconds, clamped as containerd does. */
export interface SchedulerConfig {
  pauseThreshold: number;
  deletionThreshold: number;
  mutationThreshold: number;
  scheduleDelayMs: number;
  startupDelayMs: number;
}

/** The merged section (defaults under the file's keys) → a checked config. */
export function parseConfig(raw: Record<string, unknown>): GcConfig {
  const out: GcConfig = {
    pause_threshold: float(raw, "pause_threshold"),
    deletion_threshold: int(raw, "deletion_threshold"),
    mutation_threshold: int(raw, "mutation_threshold"),
    schedule_delay: duration(raw, "schedule_delay"),
    startup_delay: duration(raw, "startup_delay"),
  };
  return out;
}

/** containerd's `newScheduler`: negative thresholds and delays become 0, the pause threshold at
 *  most 0.5. The deletion threshold is not clamped there either: a negative one never triggers. */
export function schedulerConfig(c: GcConfig): SchedulerConfig {
  return {
    pauseThreshold: Math.min(Math.max(c.pause_threshold, 0), 0.5),
    deletionThreshold: c.deletion_threshold,
    mutationThreshold: Math.max(c.mutation_threshold, 0),
    scheduleDelayMs: Math.max(parseDuration(c.schedule_delay), 0),
    startupDelayMs: Math.max(parseDuration(c.startup_delay), 0),
  };
}

/** What `ctr plugins ls -d` shows, as containerd exports it (`fmt.Sprint` of each value). */
export function configExports(s: SchedulerConfig): Record<string, string> {
  return {
    PauseThreshold: String(s.pauseThreshold),
    DeletionThreshold: String(s.deletionThreshold),
    MutationThreshold: String(s.mutationThreshold),
    ScheduleDelay: formatGoDuration(s.scheduleDelayMs),
  };
}

function value(raw: Record<string, unknown>, key: keyof GcConfig): unknown {
  return Object.hasOwn(raw, key) ? raw[key] : defaultConfig[key];
}

function float(raw: Record<string, unknown>, key: keyof GcConfig): number {
  const v = value(raw, key);
  // TOML integers arrive as bigint; go-toml decodes an integer into a float field.
  if (typeof v === "number") return v;
  if (typeof v === "bigint") return Number(v);
  throw invalidArgument(`${key}: must be a number, got ${show(v)}`);
}

function int(raw: Record<string, unknown>, key: keyof GcConfig): number {
  const v = value(raw, key);
  if (typeof v === "bigint" && v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER)) {
    return Number(v);
  }
  if (typeof v === "number" && Number.isSafeInteger(v)) return v;
  throw invalidArgument(`${key}: must be an integer, got ${show(v)}`);
}

function duration(raw: Record<string, unknown>, key: keyof GcConfig): string {
  const v = value(raw, key);
  if (typeof v !== "string")
    throw invalidArgument(`${key}: must be a duration string such as "100ms", got ${show(v)}`);
  try {
    parseDuration(v);
  } catch (e) {
    throw invalidArgument(`${key}: ${(e as Error).message}`);
  }
  return v;
}

function show(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v);
  if (typeof v === "number" || typeof v === "bigint" || typeof v === "boolean") return String(v);
  if (Array.isArray(v)) return "an array";
  if (v === null || v === undefined) return "nothing";
  return "a table";
}

/** Go's `time.Duration.String()`: "0s", "1.5ms", "100ms", "2.5s", "1m30s", "2h0m0s". */
export function formatGoDuration(ms: number): string {
  let ns = Math.round(ms * 1e6);
  if (ns === 0) return "0s";
  const sign = ns < 0 ? "-" : "";
  ns = Math.abs(ns);
  const trim = (n: number, scale: number) => {
    const whole = Math.floor(n / scale);
    const frac = (n % scale)
      .toString()
      .padStart(String(scale).length - 1, "0")
      .replace(/0+$/, "");
    return frac ? `${whole}.${frac}` : `${whole}`;
  };
  if (ns < 1e3) return `${sign}${ns}ns`;
  if (ns < 1e6) return `${sign}${trim(ns, 1e3)}µs`;
  if (ns < 1e9) return `${sign}${trim(ns, 1e6)}ms`;
  const h = Math.floor(ns / 3600e9);
  const m = Math.floor((ns % 3600e9) / 60e9);
  const s = trim(ns % 60e9, 1e9);
  if (h > 0) return `${sign}${h}h${m}m${s}s`;
  if (m > 0) return `${sign}${m}m${s}s`;
  return `${sign}${s}s`;
}
