import { describe, expect, test } from "bun:test";
import { Kind } from "@bunkerd/plugin-api";
import { configExports, defaultConfig, formatGoDuration, parseConfig, schedulerConfig } from "./config.ts";

describe("gc scheduler config", () => {
  test("the defaults are containerd's", () => {
    expect(parseConfig({ ...defaultConfig })).toEqual({
      pause_threshold: 0.02,
      deletion_threshold: 0,
      mutation_threshold: 100,
      schedule_delay: "0ms",
      startup_delay: "100ms",
    });
    const s = schedulerConfig(defaultConfig);
    expect(s).toEqual({
      pauseThreshold: 0.02,
      deletionThreshold: 0,
      mutationThreshold: 100,
      scheduleDelayMs: 0,
      startupDelayMs: 100,
    });
    expect(configExports(s)).toEqual({
      PauseThreshold: "0.02",
      DeletionThreshold: "0",
      MutationThreshold: "100",
      ScheduleDelay: "0s",
    });
  });

  test("TOML integers arrive as bigint, in integer and float keys alike", () => {
    expect(
      parseConfig({ ...defaultConfig, pause_threshold: 0n, deletion_threshold: 5n, mutation_threshold: 0n }),
    ).toMatchObject({ pause_threshold: 0, deletion_threshold: 5, mutation_threshold: 0 });
  });

  test("a missing key takes its default", () => {
    expect(parseConfig({})).toEqual(defaultConfig);
  });

  test.each([
    ["schedule_delay", "soon", 'schedule_delay: invalid duration "soon"'],
    ["schedule_delay", "5", 'schedule_delay: missing unit in duration "5"'],
    ["startup_delay", 100n, 'startup_delay: must be a duration string such as "100ms", got 100'],
    ["pause_threshold", "0.1", 'pause_threshold: must be a number, got "0.1"'],
    ["deletion_threshold", 1.5, "deletion_threshold: must be an integer, got 1.5"],
    ["mutation_threshold", true, "mutation_threshold: must be an integer, got true"],
    ["mutation_threshold", 2n ** 64n, "mutation_threshold: must be an integer, got 18446744073709551616"],
  ])("%s = %p is refused, naming the key", (key, value, message) => {
    expect(() => parseConfig({ ...defaultConfig, [key]: value })).toThrow(
      expect.objectContaining({ kind: Kind.InvalidArgument, message: `${message}: invalid argument` }),
    );
  });

  test("values out of range are clamped as containerd's newScheduler does", () => {
    const s = (c: Partial<typeof defaultConfig>) => schedulerConfig(parseConfig({ ...defaultConfig, ...c }));
    expect(s({ pause_threshold: 0.9 }).pauseThreshold).toBe(0.5);
    expect(s({ pause_threshold: -1 }).pauseThreshold).toBe(0);
    expect(s({ mutation_threshold: -5 }).mutationThreshold).toBe(0);
    expect(s({ deletion_threshold: -5 }).deletionThreshold).toBe(-5);
    expect(s({ schedule_delay: "-1s", startup_delay: "-2s" })).toMatchObject({
      scheduleDelayMs: 0,
      startupDelayMs: 0,
    });
    expect(s({ schedule_delay: "1m30s", startup_delay: "1.5s" })).toMatchObject({
      scheduleDelayMs: 90_000,
      startupDelayMs: 1500,
    });
  });

  test.each([
    [0, "0s"],
    [0.000_001, "1ns"],
    [0.0015, "1.5µs"],
    [1.5, "1.5ms"],
    [100, "100ms"],
    [1000, "1s"],
    [2500, "2.5s"],
    [90_000, "1m30s"],
    [7_200_000, "2h0m0s"],
    [3_723_500, "1h2m3.5s"],
    [-1500, "-1.5s"],
  ])("formatGoDuration(%p) = %p", (ms, text) => {
    expect(formatGoDuration(ms)).toBe(text);
  });
});
