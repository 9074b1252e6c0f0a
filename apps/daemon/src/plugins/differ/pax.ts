/** PAX extended header records (`"<len> <key>=<value>\n"`), kept as bytes. tar-stream decodes
 *  values as UTF-8 and corrupts binary xattrs such as `security.capability`; here a value is
 *  never decoded unless its key says it is text. Rules as Go's archive/tar, which containerd
 *  uses: a record's length counts itself, keys hold no `=` or NUL, path-like values no NUL. */
import { invalidArgument } from "@bunkerd/plugin-api";

export const PAX_PATH = "path";
export const PAX_LINKPATH = "linkpath";
export const PAX_SIZE = "size";
export const PAX_UID = "uid";
export const PAX_GID = "gid";
export const PAX_UNAME = "uname";
export const PAX_GNAME = "gname";
export const PAX_MTIME = "mtime";
export const PAX_ATIME = "atime";
export const PAX_CTIME = "ctime";
/** containerd reads and writes xattrs under this prefix (Go's `paxSchilyXattr`). */
export const PAX_SCHILY_XATTR = "SCHILY.xattr.";
export const PAX_GNU_SPARSE = "GNU.sparse.";

/** Go's maxSpecialFileSize: a PAX or GNU long-name body past this is refused. */
export const MAX_META_SIZE = 1 << 20;

const bad = (why: string) => invalidArgument(`invalid tar header: PAX record ${why}`);

/** Parses the body of an `x` or `g` header. Keys are latin1 strings; values stay bytes
 *  (views into `buf`). A later record overrides an earlier one with the same key. */
export function parsePaxRecords(buf: Uint8Array): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  const text = Buffer.from(buf.buffer, buf.byteOffset, buf.length);
  let off = 0;
  while (off < buf.length) {
    // "<len> ": decimal, at most 20 digits, up to the first space.
    let n = 0;
    let i = off;
    for (; i < buf.length && buf[i] !== 0x20; i++) {
      const c = buf[i]! - 0x30;
      if (c < 0 || c > 9 || i - off >= 20) throw bad("length is not a number");
      n = n * 10 + c;
    }
    if (i === off || i >= buf.length) throw bad("without a length");
    if (n < 5 || off + n > buf.length) throw bad(`length ${n} out of range`);
    const end = off + n; // one past the newline
    if (buf[end - 1] !== 0x0a) throw bad("not ending in a newline");
    const kstart = i + 1;
    let eq = kstart;
    while (eq < end - 1 && buf[eq] !== 0x3d) eq++;
    if (eq >= end - 1 || eq === kstart) throw bad("without a key");
    const key = text.toString("latin1", kstart, eq);
    const value = buf.subarray(eq + 1, end - 1);
    if (key.includes("\0")) throw bad("key holds NUL");
    if (
      (key === PAX_PATH || key === PAX_LINKPATH || key === PAX_UNAME || key === PAX_GNAME) &&
      value.includes(0)
    ) {
      throw bad(`${key} holds NUL`);
    }
    out.set(key, value);
    off = end;
  }
  return out;
}

/** A decimal PAX value (size, uid, gid). */
export function paxInt(key: string, v: Uint8Array): number {
  let n = 0;
  let neg = false;
  let i = 0;
  if (v[0] === 0x2d) {
    neg = true;
    i = 1;
  } else if (v[0] === 0x2b) {
    i = 1;
  }
  if (i >= v.length) throw bad(`${key} is empty`);
  for (; i < v.length; i++) {
    const c = v[i]! - 0x30;
    if (c < 0 || c > 9) throw bad(`${key} is not a number`);
    n = n * 10 + c;
  }
  if (n > Number.MAX_SAFE_INTEGER) throw bad(`${key} is too large`);
  return neg ? -n : n;
}

/** A PAX time `[-]sec[.frac]` as seconds and nanoseconds (nsec ∈ [0, 1e9)); as Go's
 *  parsePAXTime, digits past nanoseconds are dropped. */
export function paxTime(key: string, v: Uint8Array): [sec: number, nsec: number] {
  const s = Buffer.from(v.buffer, v.byteOffset, v.length).toString("latin1", 0, v.length);
  const m = /^([+-]?)(\d+)(?:\.(\d*))?$/.exec(s);
  if (!m) throw bad(`${key} is not a time`);
  const sec = Number(m[2]);
  if (!Number.isSafeInteger(sec)) throw bad(`${key} is out of range`);
  const frac = (m[3] ?? "").slice(0, 9).padEnd(9, "0");
  const nsec = Number(frac);
  if (m[1] === "-") {
    // -1.25 is 1.25 s before the epoch: (-2 s, 0.75e9 ns).
    return nsec === 0 ? [-sec, 0] : [-sec - 1, 1e9 - nsec];
  }
  return [sec, nsec];
}

/** Encodes records in the given order as one `x` header body. */
export function formatPaxRecords(records: [key: string, value: Uint8Array][]): Uint8Array {
  const parts: Buffer[] = [];
  for (const [key, value] of records) {
    const k = Buffer.from(key, "latin1");
    // len = digits(len) + 1 (space) + key + 1 (=) + value + 1 (\n)
    const base = k.length + value.length + 3;
    let len = base + String(base).length;
    if (String(len).length !== String(base).length) len = base + String(len).length;
    parts.push(
      Buffer.from(`${len} `, "latin1"),
      k,
      Buffer.from("=", "latin1"),
      Buffer.from(value),
      Buffer.from("\n"),
    );
  }
  return Buffer.concat(parts);
}
