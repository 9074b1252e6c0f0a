/** A runnable test image made from Debian's busybox-static: one gzip layer with /bin/busybox,
 *  a symlink per applet, /etc/passwd and /etc/group (so `--user` by name resolves), and an
 *  image config with Env, WorkingDir and Cmd the runtime tests check. Built from local files
 *  only; imported into a daemon with `ctr images import` (OCI layout tar). */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync, copyFileSync, chmodSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import type { DaemonHandle } from "./daemon.ts";
import { ociLayoutTar, sha256, type Blob, type TestImage } from "./images.ts";

export const BUSYBOX = "/bin/busybox";
export const BUSYBOX_REF = "docker.io/library/busybox:test";

const blob = (mediaType: string, data: Uint8Array | string): Blob => {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  return { mediaType, digest: sha256(bytes), size: bytes.length, data: bytes };
};

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
    const r = Bun.spawnSync(
      ["tar", "--sort=name", "--owner=0", "--group=0", "--numeric-owner", "--mtime=@0", "-C", dir, "-cf", "-", "."],
      { stdout: "pipe", stderr: "pipe" },
    );
    if (r.exitCode !== 0) throw new Error(`tar failed: ${r.stderr}`);
    const tar = new Uint8Array(r.stdout);
    if (!Object.keys(files).length) cachedTar = tar;
    return tar;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Builds the busybox image in memory. */
export function busyboxImage(opts: BusyboxOptions = {}): TestImage {
  const tar = busyboxLayerTar(opts.files ?? {});
  const diffIds = [sha256(tar)];
  const layer = blob("application/vnd.oci.image.layer.v1.tar+gzip", gzipSync(tar, { level: 1 }));
  const config = blob(
    "application/vnd.oci.image.config.v1+json",
    JSON.stringify({
      architecture: "amd64",
      os: "linux",
      config: {
        Env: opts.env ?? ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
        Cmd: opts.cmd ?? ["sh"],
        ...(opts.entrypoint ? { Entrypoint: opts.entrypoint } : {}),
        ...(opts.workingDir ? { WorkingDir: opts.workingDir } : {}),
        ...(opts.user ? { User: opts.user } : {}),
      },
      rootfs: { type: "layers", diff_ids: diffIds },
    }),
  );
  const manifest = blob(
    "application/vnd.oci.image.manifest.v1+json",
    JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: { mediaType: config.mediaType, digest: config.digest, size: config.size },
      layers: [{ mediaType: layer.mediaType, digest: layer.digest, size: layer.size }],
    }),
  );
  return { config, layers: [layer], manifest, diffIds, blobs: [config, layer, manifest] };
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
