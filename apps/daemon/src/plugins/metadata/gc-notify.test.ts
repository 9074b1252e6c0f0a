import { expect, test } from "bun:test";
import { type InitContext, notFound, PluginType, unavailable } from "@bunkerd/plugin-api";
import { gcNotifier } from "./gc-notify.ts";

const lookup = (get: (type: string, id?: string) => Promise<unknown>) =>
  ({ get }) as Pick<InitContext, "get">;

test("notices and collections reach the scheduler, in order, looked up once it is there", async () => {
  const calls: unknown[] = [];
  let lookups = 0;
  const scheduler = {
    mutated: () => void calls.push("mutated"),
    deleted: (what?: unknown) => void calls.push(["deleted", what]),
    collect: async () => void calls.push("collect"),
  };
  const gc = gcNotifier(
    lookup(async (type, id) => {
      lookups++;
      expect([type, id]).toEqual([PluginType.GC, "scheduler"]);
      return scheduler;
    }),
  );
  gc.mutated();
  gc.deleted({ content: "sha256:1" });
  await gc.collect();
  expect(calls).toEqual(["mutated", ["deleted", { content: "sha256:1" }], "collect"]);
  expect(lookups).toBe(1);
});

test("without a scheduler, notices are dropped and a collection collects nothing", async () => {
  let up: object | undefined;
  const gc = gcNotifier(
    lookup(async () => {
      if (!up) throw notFound("plugin io.containerd.gc.v1.scheduler");
      return up;
    }),
  );
  gc.mutated();
  await gc.collect();
  // Once it comes up it is found.
  const calls: string[] = [];
  up = { mutated: () => {}, deleted: () => {}, collect: async () => void calls.push("collect") };
  await gc.collect();
  expect(calls).toEqual(["collect"]);
});

test("other lookup failures and a failing collection reach a sync caller; notices never throw", async () => {
  const broken = gcNotifier(
    lookup(async () => {
      throw unavailable("worker gone");
    }),
  );
  broken.deleted();
  expect(broken.collect()).rejects.toThrow("worker gone: unavailable");
  const failing = gcNotifier(
    lookup(async () => ({
      mutated: () => Promise.reject(new Error("proxy")),
      deleted: () => {},
      collect: () => Promise.reject(unavailable("gc scheduler stopped")),
    })),
  );
  failing.mutated();
  expect(failing.collect()).rejects.toThrow("gc scheduler stopped: unavailable");
  await Bun.sleep(1);
});
