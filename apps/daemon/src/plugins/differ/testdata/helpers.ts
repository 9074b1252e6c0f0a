/** Test helpers for the differ: layers built by Python's tarfile and GNU tar, trees read back
 *  by Python (an oracle that shares no code with the applier), and GNU tar as the reference
 *  extractor. Paths in snapshots are latin1 byte strings, like archive names. */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as zlib from "node:zlib";

export const isRoot = process.getuid?.() === 0;

export function tempDir(prefix = "differ-test-"): string {
  return mkdtempSync(join(process.env.BUNKERD_TEST_TMP ?? tmpdir(), prefix));
}

/** Runs argv; throws with stderr on failure. */
export function run(argv: string[], opts: { cwd?: string; stdin?: Uint8Array } = {}): Buffer {
  const p = Bun.spawnSync(argv, { cwd: opts.cwd, stdin: opts.stdin, stdout: "pipe", stderr: "pipe" });
  if (p.exitCode !== 0) {
    throw new Error(`${argv.join(" ")} exited ${p.exitCode}: ${p.stderr.toString()}`);
  }
  return p.stdout as Buffer;
}

export const sh = (script: string, cwd?: string) => run(["sh", "-ec", script], { cwd });

/** An entry for Python's tarfile. Names and link targets are latin1 byte strings; pax values
 *  are bytes. */
export interface TarEntry {
  name: string;
  type?: "file" | "dir" | "symlink" | "link" | "char" | "block" | "fifo" | "raw";
  data?: Uint8Array | string;
  mode?: number;
  uid?: number;
  gid?: number;
  uname?: string;
  gname?: string;
  mtime?: number;
  link?: string;
  major?: number;
  minor?: number;
  pax?: Record<string, Uint8Array | string>;
  /** Typeflag byte for type "raw". */
  typeflag?: string;
}

const b64 = (v: Uint8Array | string | undefined) =>
  v === undefined
    ? undefined
    : Buffer.from(typeof v === "string" ? Buffer.from(v, "latin1") : v).toString("base64");

const BUILD_TAR = `
import base64, io, json, sys, tarfile
spec = json.load(sys.stdin)
fmt = {"pax": tarfile.PAX_FORMAT, "gnu": tarfile.GNU_FORMAT, "ustar": tarfile.USTAR_FORMAT}[spec["format"]]
out = io.BytesIO()
dec = lambda s: base64.b64decode(s).decode("utf-8", "surrogateescape")
types = {"file": tarfile.REGTYPE, "dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE, "link": tarfile.LNKTYPE,
         "char": tarfile.CHRTYPE, "block": tarfile.BLKTYPE, "fifo": tarfile.FIFOTYPE}
with tarfile.open(fileobj=out, mode="w", format=fmt, encoding="utf-8", errors="surrogateescape") as tf:
    for e in spec["entries"]:
        ti = tarfile.TarInfo(dec(e["name"]))
        t = e.get("type", "file")
        ti.type = e["typeflag"].encode() if t == "raw" else types[t]
        data = base64.b64decode(e["data"]) if e.get("data") is not None else b""
        ti.size = len(data) if t in ("file", "raw") else 0
        ti.mode = e.get("mode", 0o755 if t == "dir" else 0o644)
        ti.uid = e.get("uid", 0); ti.gid = e.get("gid", 0)
        ti.uname = e.get("uname", ""); ti.gname = e.get("gname", "")
        ti.mtime = e.get("mtime", 1700000000)
        if e.get("link") is not None: ti.linkname = dec(e["link"])
        ti.devmajor = e.get("major", 0); ti.devminor = e.get("minor", 0)
        if e.get("pax"): ti.pax_headers = {k: dec(v) for k, v in e["pax"].items()}
        tf.addfile(ti, io.BytesIO(data) if ti.size else None)
sys.stdout.buffer.write(out.getvalue())
`;

/** A tar built by Python's tarfile (PAX by default). */
export function buildTar(entries: TarEntry[], format: "pax" | "gnu" | "ustar" = "pax"): Buffer {
  const spec = {
    format,
    entries: entries.map((e) => ({
      ...e,
      name: b64(e.name),
      link: b64(e.link),
      data: b64(e.data),
      pax: e.pax && Object.fromEntries(Object.entries(e.pax).map(([k, v]) => [k, b64(v)])),
    })),
  };
  return run(["python3", "-c", BUILD_TAR], { stdin: Buffer.from(JSON.stringify(spec)) });
}

export const gzip = (b: Uint8Array) => zlib.gzipSync(b);
export const zstd = (b: Uint8Array) => run(["zstd", "-q", "-c", "-"], { stdin: b });

/** Writes a blob into `dir` and returns its path. */
export function writeBlob(dir: string, name: string, data: Uint8Array): string {
  mkdirSync(dir, { recursive: true });
  const p = join(dir, name);
  writeFileSync(p, data);
  return p;
}

/** GNU tar as the reference extractor: numeric ids, all xattrs, exact modes. */
export function gnuExtract(blob: string, dir: string): void {
  run(["tar", "--xattrs", "--xattrs-include=*", "--same-owner", "--numeric-owner", "-xpf", blob, "-C", dir]);
}

export interface Node {
  type: "file" | "dir" | "symlink" | "char" | "block" | "fifo" | "socket";
  mode: number;
  uid: number;
  gid: number;
  size: number;
  sha256?: string;
  link?: string;
  xattrs: Record<string, string>;
  mtimeNs: string;
  rdev: [number, number];
  ino: number;
  nlink: number;
  /** Other names of the same inode (non-directories with nlink > 1), sorted. */
  links?: string;
}

const SNAPSHOT = `
import hashlib, json, os, stat, sys
root = os.fsencode(sys.argv[1])
out = {}
def kind(m):
    for f, n in ((stat.S_ISREG, "file"), (stat.S_ISDIR, "dir"), (stat.S_ISLNK, "symlink"), (stat.S_ISCHR, "char"),
                 (stat.S_ISBLK, "block"), (stat.S_ISFIFO, "fifo"), (stat.S_ISSOCK, "socket")):
        if f(m): return n
for dirpath, dirnames, filenames in os.walk(root):
    for name in dirnames + filenames:
        p = os.path.join(dirpath, name)
        st = os.lstat(p)
        t = kind(st.st_mode)
        n = {"type": t, "mode": stat.S_IMODE(st.st_mode), "uid": st.st_uid, "gid": st.st_gid, "size": st.st_size,
             "mtimeNs": str(st.st_mtime_ns), "rdev": [os.major(st.st_rdev), os.minor(st.st_rdev)],
             "ino": st.st_ino, "nlink": st.st_nlink, "xattrs": {}}
        try:
            for k in os.listxattr(p, follow_symlinks=False):
                n["xattrs"][k] = os.getxattr(p, k, follow_symlinks=False).hex()
        except OSError:
            pass
        if t == "file":
            with open(p, "rb") as f: n["sha256"] = hashlib.sha256(f.read()).hexdigest()
        if t == "symlink": n["link"] = os.readlink(p).decode("latin1")
        out[os.path.relpath(p, root).decode("latin1")] = n
print(json.dumps(out))
`;

/** Every entry under `root` (not the root itself), read by Python. */
export function snapshot(root: string): Map<string, Node> {
  const raw = JSON.parse(run(["python3", "-c", SNAPSHOT, root]).toString()) as Record<string, Node>;
  const byIno = new Map<number, string[]>();
  for (const [p, n] of Object.entries(raw)) {
    if (n.type !== "dir" && n.nlink > 1) byIno.set(n.ino, [...(byIno.get(n.ino) ?? []), p]);
  }
  for (const names of byIno.values()) {
    // A lone name with nlink > 1 (overlayfs reports the lower inode's count) is no group.
    if (names.length < 2) continue;
    const group = names.sort().join(" | ");
    for (const p of names) raw[p]!.links = group;
  }
  return new Map(Object.entries(raw));
}

export interface CompareOptions {
  /** Compare mtimes to the second only (diffs truncate them). */
  mtimeSeconds?: boolean;
  /** Skip mtimes of directories. */
  ignoreDirMtime?: boolean;
  /** Skip the mtime of these paths (directories a layer creates implicitly). */
  ignoreMtime?: (path: string) => boolean;
  /** Only these xattrs are compared (default: all). */
  xattrs?: (name: string) => boolean;
  /** Paths to leave out. */
  ignore?: (path: string) => boolean;
}

/** Differences between two snapshots, one line each; empty when equal. */
export function compareTrees(
  a: Map<string, Node>,
  b: Map<string, Node>,
  opts: CompareOptions = {},
): string[] {
  const out: string[] = [];
  const keys = new Set([...a.keys(), ...b.keys()]);
  for (const k of [...keys].sort()) {
    if (opts.ignore?.(k)) continue;
    const x = a.get(k);
    const y = b.get(k);
    if (!x || !y) {
      out.push(`${k}: only in ${x ? "first" : "second"}`);
      continue;
    }
    const fields: (keyof Node)[] = ["type", "mode", "uid", "gid", "sha256", "link", "rdev", "links"];
    if (x.type === "file") fields.push("size");
    for (const f of fields) {
      if (JSON.stringify(x[f]) !== JSON.stringify(y[f])) {
        out.push(`${k}: ${f} ${JSON.stringify(x[f])} != ${JSON.stringify(y[f])}`);
      }
    }
    if (!(opts.ignoreDirMtime && x.type === "dir") && !opts.ignoreMtime?.(k)) {
      const mx = opts.mtimeSeconds ? BigInt(x.mtimeNs) / 1_000_000_000n : BigInt(x.mtimeNs);
      const my = opts.mtimeSeconds ? BigInt(y.mtimeNs) / 1_000_000_000n : BigInt(y.mtimeNs);
      if (mx !== my) out.push(`${k}: mtime ${x.mtimeNs} != ${y.mtimeNs}`);
    }
    const keep = opts.xattrs ?? (() => true);
    const xa = Object.fromEntries(Object.entries(x.xattrs).filter(([n]) => keep(n)));
    const xb = Object.fromEntries(Object.entries(y.xattrs).filter(([n]) => keep(n)));
    if (JSON.stringify(xa, Object.keys(xa).sort()) !== JSON.stringify(xb, Object.keys(xb).sort())) {
      out.push(`${k}: xattrs ${JSON.stringify(xa)} != ${JSON.stringify(xb)}`);
    }
  }
  return out;
}

/** Directories of `entries` that no entry names: their times are the apply's "now". */
export function implicitDirs(entries: TarEntry[]): (path: string) => boolean {
  const clean = (n: string) => n.replace(/^(\.\/)+/, "").replace(/\/+$/, "");
  const explicit = new Set(entries.filter((e) => e.type === "dir").map((e) => clean(e.name)));
  return (p) => !explicit.has(p);
}

export const rm = (p: string) => rmSync(p, { recursive: true, force: true });

/** security.capability for cap_net_bind_service+ep (vfs_cap_data revision 2). */
export const CAP_NET_BIND_SERVICE = new Uint8Array([
  0x01, 0x00, 0x00, 0x02, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
  0x00, 0x00,
]);

/** Bytes that are not UTF-8 and hold NUL, newline, "=" and 0xff: what a UTF-8 decode breaks. */
export const BINARY_XATTR = new Uint8Array([0x00, 0xff, 0xfe, 0x0a, 0x3d, 0x80, 0xc3, 0x28, 0x00, 0x01]);
