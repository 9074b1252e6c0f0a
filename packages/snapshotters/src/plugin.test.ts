import { afterEach, beforeEach, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type InitContext, isSkip, PluginType, uriOf } from "@bunkerd/plugin-api";
import records, {
  hostPlatform,
  type NativeConfig,
  nativePlugin,
  type OverlayConfig,
  overlayPlugin,
  parseOverlayConfig,
} from "./plugin.ts";
import type { Snapshotter } from "./snapshotter.ts";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "snapshot-plugin-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function context<C>(id: string, config: C): InitContext<C> {
  const uri = `${PluginType.Snapshotter}.${id}`;
  return {
    type: PluginType.Snapshotter,
    id,
    uri,
    root: join(dir, uri),
    state: join(dir, "state", uri),
    config,
    grpcAddress: "",
    ttrpcAddress: "",
    events: { publish: async () => {} },
    log: { trace() {}, debug() {}, info() {}, warn() {}, error() {} },
    exports: {},
    capabilities: [],
    get: async () => {
      throw new Error("no other plugins here");
    },
    registerService() {},
  };
}

test("two records in the snapshotter worker, with containerd's ids, defaults and platform", () => {
  expect(records.map(uriOf)).toEqual([
    "io.containerd.snapshotter.v1.overlayfs",
    "io.containerd.snapshotter.v1.native",
  ]);
  for (const r of records) expect(r.worker).toBe("io.containerd.snapshotter.v1");
  expect(overlayPlugin.config).toEqual({
    root_path: "",
    upperdir_label: false,
    sync_remove: false,
    mount_options: [],
  });
  expect(nativePlugin.config).toEqual({ root_path: "" });
  const arch = { x64: "amd64", arm64: "arm64" }[process.arch as "x64" | "arm64"] ?? process.arch;
  expect(hostPlatform()).toMatchObject({ os: "linux", architecture: arch });
  expect(overlayPlugin.platforms).toEqual([hostPlatform()]);
});

test("config: the file's keys over the defaults; a wrong type names the key", () => {
  expect(parseOverlayConfig({ upperdir_label: true, mount_options: ["nodev"], unknown: 1 })).toEqual({
    root_path: "",
    upperdir_label: true,
    sync_remove: false,
    mount_options: ["nodev"],
  });
  expect(() => parseOverlayConfig({ sync_remove: "yes" })).toThrow(
    'sync_remove: must be a boolean, got "yes"',
  );
  expect(() => parseOverlayConfig({ mount_options: "nodev" })).toThrow(
    "mount_options: must be an array of strings",
  );
  expect(() => nativePlugin.parseConfig!({ root_path: 1n })).toThrow("root_path: must be a string, got 1");
});

test("native: root is the plugin's own, exported as containerd does", async () => {
  const ctx = context<NativeConfig>("native", { root_path: "" });
  const sn = (await nativePlugin.init(ctx)) as Snapshotter;
  try {
    expect(ctx.exports).toEqual({ root: ctx.root });
    expect(existsSync(join(ctx.root, "metadata.db"))).toBe(true);
    await sn.prepare("a");
    expect((await sn.mounts("a"))[0]!.source).toBe(join(ctx.root, "snapshots", "1"));
  } finally {
    await sn.close();
  }
});

test.skipIf(process.getuid?.() !== 0)("overlayfs: root_path wins over the plugin root", async () => {
  const root = join(dir, "elsewhere");
  const ctx = context<OverlayConfig>("overlayfs", {
    ...overlayPlugin.config!,
    root_path: root,
    upperdir_label: true,
  });
  const sn = (await overlayPlugin.init(ctx)) as Snapshotter;
  try {
    expect(ctx.exports).toEqual({ root });
    await sn.prepare("a");
    expect((await sn.stat("a")).labels["containerd.io/snapshot/overlay.upperdir"]).toBe(
      join(root, "snapshots", "1", "fs"),
    );
    expect(existsSync(ctx.root)).toBe(false);
  } finally {
    await sn.close();
  }
});

test.skipIf(process.getuid?.() !== 0)(
  "overlayfs is skipped, with the reason, where an overlay cannot be mounted (here: no CAP_SYS_ADMIN)",
  async () => {
    chmodSync(dir, 0o777);
    const script = join(dir, "init.ts");
    await Bun.write(
      script,
      `const { overlayPlugin } = await import(${JSON.stringify(join(import.meta.dir, "plugin.ts"))});
       const ctx = { root: ${JSON.stringify(join(dir, "root"))}, config: overlayPlugin.config, exports: {} };
       try { await overlayPlugin.init(ctx); console.log(JSON.stringify({ ok: true })); }
       catch (e) { console.log(JSON.stringify({ name: e.name, skip: e.name === "SkipPlugin", message: e.message })); }`,
    );
    const proc = Bun.spawnSync(
      ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--", process.execPath, script],
      { env: { ...process.env, HOME: dir }, stderr: "pipe" },
    );
    const out = JSON.parse(proc.stdout.toString().trim().split("\n").at(-1)!);
    expect(out).toMatchObject({ name: "SkipPlugin", skip: true });
    expect(out.message).toContain(`overlayfs not supported on ${join(dir, "root")}: failed to mount overlay`);
    expect(out.message).toContain("operation not permitted");
    expect(isSkip(Object.assign(new Error(out.message), { name: out.name, skip: true }))).toBe(true);
  },
);
