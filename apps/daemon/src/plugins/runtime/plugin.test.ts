import { expect, test } from "bun:test";
import { existsSync } from "node:fs";
import runtime, { parseRuntimeConfig, publishBinary } from "./plugin.ts";

test("config: containerd's keys and defaults", () => {
  expect(runtime.config).toEqual({ platforms: ["linux/amd64"], sched_core: false });
  expect(parseRuntimeConfig({ platforms: ["linux/amd64", "linux/arm/v7"], sched_core: true })).toEqual({
    platforms: ["linux/amd64", "linux/arm/v7"],
    sched_core: true,
  });
});

test.each([
  [{ platforms: "linux/amd64" }, "platforms: must be an array of strings"],
  [{ platforms: ["linux"] }, 'platforms: "linux": invalid platform (want os/arch[/variant])'],
  [{ sched_core: "yes" }, "sched_core: must be true or false"],
])("bad config %j is refused naming the key", (raw, message) => {
  expect(() => parseRuntimeConfig(raw)).toThrow(message);
});

test("shims publish through the checkout's bin/bunkerd when run from source", () => {
  expect(publishBinary()).toMatch(/\/bin\/bunkerd$/);
  expect(existsSync(publishBinary())).toBe(true);
});
