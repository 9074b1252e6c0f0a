import { expect, test } from "bun:test";
import { bytes, humanDuration, humanSize, parseDuration } from "./units.ts";

test("sizes print as Go ctr prints them", () => {
  expect([humanSize(405), humanSize(1_295_000), humanSize(0), humanSize(1_000_000)]).toEqual([
    "405B",
    "1.295MB",
    "0B",
    "1MB",
  ]);
  expect([bytes(0), bytes(4096), bytes(1.2 * 1024 * 1024), bytes(2035712)]).toEqual([
    "0.0 B",
    "4.0 KiB",
    "1.2 MiB",
    "1.9 MiB",
  ]);
});

test("ages and Go durations", () => {
  expect([
    humanDuration(500),
    humanDuration(12_400),
    humanDuration(61_000),
    humanDuration(7_200_000),
  ]).toEqual(["Less than a second", "12 seconds", "About a minute", "2 hours"]);
  expect([parseDuration("10s"), parseDuration("1h30m"), parseDuration("250ms"), parseDuration("0")]).toEqual([
    10_000, 5_400_000, 250, 0,
  ]);
  expect(() => parseDuration("10")).toThrow('invalid duration "10"');
});
