/** A test image with the entries that make unpacking hard, built from local material with GNU
 *  tar (which writes PAX xattr records) and pushed to a local registry with skopeo:
 *
 *  layer 1: busybox-static as /bin/busybox, /bin/sh → busybox symlink, a setuid file, a hard
 *           link, a fifo, a char device, a file with a binary security.capability xattr,
 *           files under /etc and /opt/data;
 *  layer 2: a whiteout removing /etc/removed, an opaque /opt/data with a new file in it,
 *           a sticky dir;
 *  layer 3: a changed /etc/motd.
 *
 *  The config's diff_ids are the uncompressed tars' digests. */
import { chmodSync, linkSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { sha256 } from "./images.ts";

export interface PushedImage {
  ref: string;
  manifestDigest: string;
  diffIds: string[];
}

function sh(cmd: string[], cwd?: string) {
  const r = Bun.spawnSync(cmd, { cwd, stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`${cmd.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

function tarDir(dir: string): Uint8Array {
  return new Uint8Array(
    sh([
      "tar",
      "--xattrs",
      "--xattrs-include=*",
      "--sort=name",
      "--numeric-owner",
      "-C",
      dir,
      "-cf",
      "-",
      ".",
    ]),
  );
}

function layer1(dir: string) {
  for (const d of ["bin", "etc", "opt/data", "dev", "usr/local/bin"])
    mkdirSync(join(dir, d), { recursive: true });
  writeFileSync(
    join(dir, "bin/busybox"),
    Bun.file("/bin/busybox").size > 0 ? new Uint8Array(sh(["cat", "/bin/busybox"])) : "",
  );
  chmodSync(join(dir, "bin/busybox"), 0o755);
  symlinkSync("busybox", join(dir, "bin/sh"));
  writeFileSync(join(dir, "etc/motd"), "welcome v1\n");
  writeFileSync(join(dir, "etc/removed"), "to be deleted\n");
  writeFileSync(join(dir, "opt/data/old"), "hidden by the opaque dir\n");
  writeFileSync(join(dir, "usr/local/bin/suid"), "#!/bin/sh\n");
  chmodSync(join(dir, "usr/local/bin/suid"), 0o4755);
  writeFileSync(join(dir, "etc/original"), "linked\n");
  linkSync(join(dir, "etc/original"), join(dir, "etc/hardlink"));
  sh(["mkfifo", join(dir, "dev/fifo")]);
  sh(["mknod", join(dir, "dev/null"), "c", "1", "3"]);
  writeFileSync(join(dir, "usr/local/bin/ping"), "pretend\n");
  // security.capability v2 for cap_net_raw: binary bytes, including NULs.
  sh([
    "python3",
    "-c",
    "import os,sys; os.setxattr(sys.argv[1], 'security.capability', bytes([0,0,0,2,0,32,0,0,0,0,0,0,0,0,0,0,0,0,0,0]))",
    join(dir, "usr/local/bin/ping"),
  ]);
  sh(["chown", "-h", "1000:1000", join(dir, "etc/motd")]);
}

function layer2(dir: string) {
  mkdirSync(join(dir, "etc"), { recursive: true });
  mkdirSync(join(dir, "opt/data"), { recursive: true });
  mkdirSync(join(dir, "tmp"), { recursive: true });
  writeFileSync(join(dir, "etc/.wh.removed"), "");
  writeFileSync(join(dir, "opt/data/.wh..wh..opq"), "");
  writeFileSync(join(dir, "opt/data/new"), "after the opaque marker\n");
  chmodSync(join(dir, "tmp"), 0o1777);
}

function layer3(dir: string) {
  mkdirSync(join(dir, "etc"), { recursive: true });
  writeFileSync(join(dir, "etc/motd"), "welcome v2\n");
}

/** Builds the image as an OCI layout directory; returns the layout and what it holds. */
export function buildTestImage(): {
  layout: string;
  tag: string;
  manifestDigest: string;
  diffIds: string[];
  cleanup(): void;
} {
  const work = mkdtempSync("/tmp/testimage-");
  const tars = [layer1, layer2, layer3].map((build, i) => {
    const dir = join(work, `l${i}`);
    mkdirSync(dir);
    build(dir);
    return tarDir(dir);
  });
  const layout = join(work, "layout");
  mkdirSync(join(layout, "blobs/sha256"), { recursive: true });
  const put = (bytes: Uint8Array | string) => {
    const b = typeof bytes === "string" ? new TextEncoder().encode(bytes) : bytes;
    const digest = sha256(b);
    writeFileSync(join(layout, "blobs/sha256", digest.slice(7)), b);
    return { digest, size: b.length };
  };
  const diffIds = tars.map((t) => sha256(t));
  const layers = tars.map((t) => ({
    mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
    ...put(gzipSync(t, { level: 1 })),
  }));
  const config = {
    mediaType: "application/vnd.oci.image.config.v1+json",
    ...put(
      JSON.stringify({
        architecture: "amd64",
        os: "linux",
        config: { Cmd: ["/bin/sh"], Env: ["PATH=/usr/local/bin:/bin"] },
        rootfs: { type: "layers", diff_ids: diffIds },
      }),
    ),
  };
  const manifestJson = JSON.stringify({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config,
    layers,
  });
  const manifest = { mediaType: "application/vnd.oci.image.manifest.v1+json", ...put(manifestJson) };
  writeFileSync(join(layout, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  const tag = "v1";
  writeFileSync(
    join(layout, "index.json"),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [{ ...manifest, annotations: { "org.opencontainers.image.ref.name": tag } }],
    }),
  );
  for (let i = 0; i < 3; i++) rmSync(join(work, `l${i}`), { recursive: true, force: true });
  return {
    layout,
    tag,
    manifestDigest: manifest.digest,
    diffIds,
    cleanup: () => rmSync(work, { recursive: true, force: true }),
  };
}

/** Every entry under `root`, for comparing two unpacked trees: type, mode, owner, size,
 *  content hash, symlink target, device numbers, xattrs (hex), hardlink groups. */
export function describeTree(root: string): Record<string, string> {
  const py = `
import os, sys, stat, hashlib, json
root = sys.argv[1]; out = {}; inodes = {}
for dirpath, dirs, files in os.walk(root):
    for name in sorted(dirs + files):
        p = os.path.join(dirpath, name); rel = os.path.relpath(p, root)
        st = os.lstat(p); m = st.st_mode; d = {"mode": oct(m), "uid": st.st_uid, "gid": st.st_gid}
        if stat.S_ISREG(m):
            d["size"] = st.st_size; d["sha"] = hashlib.sha256(open(p, "rb").read()).hexdigest()
            if st.st_nlink > 1: inodes.setdefault(st.st_ino, []).append(rel)
        elif stat.S_ISLNK(m): d["target"] = os.readlink(p)
        elif stat.S_ISCHR(m) or stat.S_ISBLK(m): d["dev"] = [os.major(st.st_rdev), os.minor(st.st_rdev)]
        try:
            xs = {k: os.getxattr(p, k, follow_symlinks=False).hex() for k in sorted(os.listxattr(p, follow_symlinks=False))}
            if xs: d["xattrs"] = xs
        except OSError: pass
        out[rel] = json.dumps(d, sort_keys=True)
for group in inodes.values():
    for rel in group: out[rel] += " links=" + ",".join(sorted(group))
print(json.dumps(out))
`;
  return JSON.parse(new TextDecoder().decode(sh(["python3", "-c", py, root])));
}
