/** The `runtime` scenario's floor: a bare `runc run` of the same busybox rootfs the daemons run,
 *  with no daemon, shim or ctr in between. The rootfs is the test image's one layer untarred
 *  into a temp dir; config.json is `runc spec`'s default (new namespaces, read-only root) with
 *  `terminal: false` and `args: ["true"]`. runc keeps its state under the bundle's own root, so
 *  no other runc user on the machine is touched. */
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { busyboxImage } from "../../test/harness/busybox.ts";
import { cleanupDir } from "../../test/harness/daemon.ts";

export interface RuncBundle {
  dir: string;
  /** `runc run` of a fresh container id; resolves to its wall time in ms (spawn to exit). */
  run(): Promise<number>;
  /** Forces away any container left (an interrupted run) and removes the temp dir. */
  cleanup(): void;
}

export function makeRuncBundle(): RuncBundle {
  const dir = mkdtempSync("/tmp/bench-runc-");
  const bundle = join(dir, "bundle");
  const rootfs = join(bundle, "rootfs");
  const state = join(dir, "runc-root");
  const ids = new Set<string>();
  const runc = (args: string[]) => Bun.spawnSync(["runc", "--root", state, ...args], { stderr: "pipe" });
  try {
    mkdirSync(rootfs, { recursive: true });
    const layer = busyboxImage().layers[0]!;
    const tarPath = join(dir, "layer.tar");
    writeFileSync(tarPath, gunzipSync(layer.data));
    const x = Bun.spawnSync(["tar", "-xf", tarPath, "-C", rootfs], { stderr: "pipe" });
    if (x.exitCode !== 0) throw new Error(`untar of the busybox layer failed: ${x.stderr}`);
    const s = Bun.spawnSync(["runc", "spec", "--bundle", bundle], { stderr: "pipe" });
    if (s.exitCode !== 0) throw new Error(`runc spec failed: ${s.stderr}`);
    const specPath = join(bundle, "config.json");
    const spec = JSON.parse(readFileSync(specPath, "utf8"));
    spec.process.terminal = false;
    spec.process.args = ["true"];
    writeFileSync(specPath, JSON.stringify(spec));
  } catch (e) {
    cleanupDir(dir);
    throw e;
  }
  let n = 0;
  return {
    dir,
    async run() {
      const id = `bench-runc-${process.pid}-${++n}`;
      ids.add(id);
      const t0 = performance.now();
      const p = Bun.spawn(["runc", "--root", state, "run", "--bundle", bundle, id], {
        stdin: "ignore",
        stdout: "ignore",
        stderr: "pipe",
      });
      const [code, err] = await Promise.all([p.exited, new Response(p.stderr).text()]);
      const ms = performance.now() - t0;
      if (code !== 0) throw new Error(`runc run exited ${code}: ${err.trim()}`);
      ids.delete(id); // `runc run` deletes its container on exit
      return ms;
    },
    cleanup() {
      for (const id of ids) runc(["delete", "--force", id]);
      cleanupDir(dir);
    },
  };
}
