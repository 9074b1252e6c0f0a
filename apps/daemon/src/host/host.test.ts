import { afterEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { EmptySchema } from "@bufbuild/protobuf/wkt";
import { createLogger, Kind } from "@bunkerd/plugin-api";
import { VersionResponseSchema } from "@bunkerd/proto/containerd/services/version/v1/version_pb.ts";
import { Exchange } from "../events/exchange.ts";
import { PluginHost } from "./host.ts";
import { type Prestarted, startWorker } from "./prestart.ts";

const fixtures = join(import.meta.dir, "testdata/plugins.ts");
let host: PluginHost | undefined;
// Every boot makes its own dir (a test may boot several times): all are removed.
const dirs: string[] = [];

afterEach(async () => {
  await host?.stop();
  host = undefined;
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function boot(
  extra: {
    disabled?: string[];
    required?: string[];
    config?: Record<string, Record<string, unknown>>;
    external?: string[];
    prestarted?: Map<string, Prestarted>;
  } = {},
) {
  const dir = mkdtempSync(join(tmpdir(), "host-"));
  dirs.push(dir);
  const exchange = new Exchange();
  host = new PluginHost({
    builtins: {},
    hostRecords: [],
    external: extra.external ?? [fixtures],
    root: join(dir, "root"),
    state: join(dir, "state"),
    grpcAddress: join(dir, "d.sock"),
    ttrpcAddress: join(dir, "d.sock.ttrpc"),
    disabled: extra.disabled ?? [],
    required: extra.required ?? [],
    pluginConfig: extra.config ?? {},
    logSettings: { level: "fatal", format: "text" },
    log: createLogger({ level: "fatal", format: "text" }),
    publish: (ns, t, e) => exchange.publish(ns, t, e),
    workerEntry: new URL("./worker.ts", import.meta.url),
    prestarted: extra.prestarted,
  });
  await host.start();
  return host;
}

const ctx = (metadata: Record<string, string[]> = {}, signal = new AbortController().signal) => ({
  method: "/containerd.services.version.v1.Version/Version",
  protocol: "grpc" as const,
  metadata,
  signal,
  namespace: "ns1",
});
const versionPath = "/containerd.services.version.v1.Version/Version";

test("states: ok, skip (with containerd's 'skip plugin' wording) and error", async () => {
  const h = await boot();
  const by = Object.fromEntries(h.plugins().map((p) => [p.id, p]));
  expect(by.counter?.state).toBe("ok");
  expect(by.user?.state).toBe("ok");
  expect(by.skipper?.state).toBe("skip");
  expect(by.skipper?.error?.message).toBe("no such hardware here: skip plugin");
  expect(by.broken?.state).toBe("error");
  expect(by.broken?.error?.message).toBe("disk on fire");
  expect(h.workerNames().sort()).toEqual(["test-a", "test-b", "test-crash"]);
});

test("a plugin in one worker calls one in another, unary and streaming", async () => {
  const h = await boot();
  const user = await h.get<{ twice(): Promise<number[]>; sum(k: number): Promise<number> }>(
    "io.bunkerd.test.v1",
    "user",
  );
  expect(await user.twice()).toEqual([1, 2]);
  expect(await user.sum(100)).toBe(4950);
});

test("API calls reach the worker's service, bytes in and out, with its merged config", async () => {
  const h = await boot({ config: { "io.bunkerd.test.v1.hanging": { answer: "from-config" } } });
  const route = h.lookup(versionPath)!;
  const out = await (route.invoke(toBinary(EmptySchema, create(EmptySchema)), ctx()) as Promise<Uint8Array>);
  expect(fromBinary(VersionResponseSchema, out)).toMatchObject({ version: "from-config", revision: "ns1" });
});

test("disabled plugins are not loaded; a required one that fails stops the boot", async () => {
  const h = await boot({ disabled: ["io.bunkerd.test.v1.broken"] });
  expect(h.plugins().some((p) => p.id === "broken")).toBe(false);
  await h.stop();
  await expect(boot({ required: ["io.bunkerd.test.v1.broken"] })).rejects.toThrow(
    "required plugin io.bunkerd.test.v1.broken did not start: disk on fire",
  );
  await expect(boot({ required: ["io.bunkerd.test.v1.nope"] })).rejects.toThrow("io.bunkerd.test.v1.nope");
});

test("a crashed worker: calls in flight fail Unavailable at once, its plugins show error", async () => {
  const h = await boot();
  const route = h.lookup(versionPath)!;
  const inflight = route.invoke(new Uint8Array(), ctx({ "x-hang": ["1"] })) as Promise<Uint8Array>;
  await Bun.sleep(20);
  await h.crashWorker("test-crash");
  const err = await inflight.catch((e) => e);
  expect(err.kind).toBe(Kind.Unavailable);
  expect(err.message).toContain("worker test-crash exited");
  const hanging = h.plugins().find((p) => p.id === "hanging")!;
  expect(hanging.state).toBe("error");
  const later = await (route.invoke(new Uint8Array(), ctx()) as Promise<Uint8Array>).catch((e) => e);
  expect(later.kind).toBe(Kind.Unavailable);
  // Other workers go on.
  const user = await h.get<{ twice(): Promise<number[]> }>("io.bunkerd.test.v1", "user");
  expect((await user.twice()).length).toBe(2);
});

test("cancellation reaches the worker", async () => {
  const h = await boot();
  const route = h.lookup(versionPath)!;
  const ac = new AbortController();
  const p = route.invoke(new Uint8Array(), ctx({ "x-hang": ["1"] }, ac.signal)) as Promise<Uint8Array>;
  ac.abort();
  expect((await p.catch((e) => e)).kind).toBe(Kind.Canceled);
});

test("boot: plugins of different workers init at once; requires, worker order and get() hold", async () => {
  const dir = mkdtempSync(join(tmpdir(), "host-order-"));
  dirs.push(dir);
  const ids = ["slow", "fast", "same-worker", "dependent", "asker", "late"];
  const config = Object.fromEntries(ids.map((id) => [`io.bunkerd.order.v1.${id}`, { dir }]));
  const h = await boot({ external: [join(import.meta.dir, "testdata/boot-order.ts")], config });
  const states = h.plugins().map((p) => [p.id, p.state, p.error?.message ?? ""]);
  // Listed in plan order, whatever order the inits finished in.
  expect(states).toEqual(ids.map((id) => [id, "ok", ""]));
  // The after-boot collection reaches every worker, and they go on serving.
  await h.afterBoot();
  const slow = await h.get<{ done(): Promise<boolean> }>("io.bunkerd.order.v1", "slow");
  expect(await slow.done()).toBe(true);
});

test("workers started ahead are adopted by their group; one the plan does not use is ended", async () => {
  const entry = new URL("./worker.ts", import.meta.url);
  const prestarted = new Map([
    ["test-a", startWorker(entry, "test-a")],
    ["unused", startWorker(entry, "unused")],
  ]);
  const unused = prestarted.get("unused")!.worker;
  const ended = new Promise<void>((r) => unused.addEventListener("close", () => r()));
  const h = await boot({ prestarted });
  expect(prestarted.size).toBe(0); // test-a adopted, unused ended
  await ended;
  expect(h.workerNames().sort()).toEqual(["test-a", "test-b", "test-crash"]);
  const user = await h.get<{ twice(): Promise<number[]> }>("io.bunkerd.test.v1", "user");
  expect(await user.twice()).toEqual([1, 2]); // test-b reaches counter in the adopted test-a
});
