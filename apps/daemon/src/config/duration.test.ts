import { expect, test } from "bun:test";
import { parseDuration } from "./duration.ts";

test.each([
  ["5s", 5000],
  ["100ms", 100],
  ["1m30s", 90_000],
  ["1h", 3_600_000],
  ["4h0m0s", 14_400_000],
  ["0", 0],
  ["0s", 0],
  ["1.5s", 1500],
  [".5s", 500],
  ["1.s", 1000],
  ["-2s", -2000],
  ["+3ms", 3],
  ["1h2m3s4ms", 3_723_004],
  ["2us", 0.002],
  ["2µs", 0.002],
  ["100ns", 0.0001],
] as const)("%s is %d ms", (text, ms) => {
  expect(parseDuration(text)).toBeCloseTo(ms, 10);
});

test.each([
  ["", 'invalid duration ""'],
  ["5", 'missing unit in duration "5"'],
  ["abc", 'invalid duration "abc"'],
  ["1x", 'unknown unit "x" in duration "1x"'],
  ["5 s", 'unknown unit " s" in duration "5 s"'],
  [".s", 'invalid duration ".s"'],
  ["-", 'invalid duration "-"'],
  ["3000000h", 'invalid duration "3000000h"'],
])("%p is refused with Go's message", (text, message) => {
  expect(() => parseDuration(text)).toThrow(message);
});
