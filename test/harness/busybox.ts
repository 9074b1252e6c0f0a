/** A runnable test image made from Debian's busybox-static: one gzip layer with /bin/busybox,
 *  a symlink per applet, /etc/passwd and /etc/group (so `--user` by name resolves), and an
 *  image config with Env, WorkingDir and Cmd the runtime tests check. Built from local files
 *  only; imported into a daemon with `ctr images import` (OCI layout tar). */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync, copyFileSync, chmodSync } from "node:fs";
import { join } from "node:path";
import { type DaemonHandle, type StartOptions, startDaemon } from "./daemon.ts";
import { imageOf, ociLayoutTar, type TestImage, tarTree } from "./images.ts";

export const BUSYBOX = "/bin/busybox";
export const BUSYBOX_REF = "docker.io/library/busybox:test";

export interface BusyboxOptions {
  cmd?: string[];
  entrypoint?: string[];
  env?: string[];
  workingDir?: string;
  user?: string;
  /** Extra files (path → contents) in the same layer. */
  files?: Record<string, string>;
}

let cachedTar: Uint8Array | undefined;

/** The layer tar: busybox, its applet links, passwd/group, /tmp and /root; deterministic. */
function busyboxLayerTar(files: Record<string, string>): Uint8Array {
  if (!Object.keys(files).length && cachedTar) return cachedTar;
  const dir = mkdtempSync("/tmp/busybox-layer-");
  try {
    for (const d of ["bin", "etc", "tmp", "root", "proc", "sys", "dev", "home/app", "work"]) {
      mkdirSync(join(dir, d), { recursive: true });
    }
    chmodSync(join(dir, "tmp"), 0o1777);
    copyFileSync(BUSYBOX, join(dir, "bin/busybox"));
    chmodSync(join(dir, "bin/busybox"), 0o755);
    const list = Bun.spawnSync([BUSYBOX, "--list"], { stdout: "pipe" });
    for (const applet of new TextDecoder().decode(list.stdout).split("\n")) {
      if (applet && applet !== "busybox") symlinkSync("busybox", join(dir, "bin", applet));
    }
    writeFileSync(
      join(dir, "etc/passwd"),
      "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
    );
    writeFileSync(join(dir, "etc/group"), "root:x:0:\napp:x:1000:\nextra:x:1500:app\nnogroup:x:65534:\n");
    for (const [path, body] of Object.entries(files)) {
      mkdirSync(join(dir, path, ".."), { recursive: true });
      writeFileSync(join(dir, path), body);
    }
    const tar = tarTree(dir);
    if (!Object.keys(files).length) cachedTar = tar;
    return tar;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Builds the busybox image in memory. */
export function busyboxImage(opts: BusyboxOptions = {}): TestImage {
  const tar = busyboxLayerTar(opts.files ?? {});
  return imageOf([tar], {
    architecture: "amd64",
    os: "linux",
    config: {
      Env: opts.env ?? ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
      Cmd: opts.cmd ?? ["sh"],
      ...(opts.entrypoint ? { Entrypoint: opts.entrypoint } : {}),
      ...(opts.workingDir ? { WorkingDir: opts.workingDir } : {}),
      ...(opts.user ? { User: opts.user } : {}),
    },
  });
}

/** Imports a busybox image named `ref` into the daemon with the Go ctr (client-side import,
 *  unpacked into `snapshotter`), throwing with ctr's output when it fails. */
export async function importBusybox(
  d: DaemonHandle,
  ref = BUSYBOX_REF,
  opts: BusyboxOptions & { namespace?: string; snapshotter?: string } = {},
): Promise<TestImage> {
  const img = busyboxImage(opts);
  const path = join(d.dir, `busybox-${Math.random().toString(36).slice(2)}.tar`);
  writeFileSync(path, ociLayoutTar(img, ref));
  const ns = opts.namespace ? ["-n", opts.namespace] : [];
  const snap = opts.snapshotter ? [`--snapshotter=${opts.snapshotter}`] : [];
  const r = await d.ctr([...ns, "images", "import", ...snap, path]);
  rmSync(path, { force: true });
  if (r.code !== 0) throw new Error(`ctr images import failed (${r.code}): ${r.stderr}${r.stdout}`);
  return img;
}

/** A daemon with busybox imported, as most runtime suites begin; the daemon is stopped (and its
 *  dir removed) when the import fails, so a failed preamble leaves nothing behind. */
export async function startWithBusybox(
  kind: "bunkerd" | "containerd",
  opts: StartOptions = {},
): Promise<DaemonHandle> {
  const d = await startDaemon(kind, opts);
  try {
    await importBusybox(d);
  } catch (e) {
    await d.stop();
    throw e;
  }
  return d;
}
