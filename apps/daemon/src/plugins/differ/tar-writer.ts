/** A tar writer for layers, in the shape Go's archive/tar gives containerd's diffs with
 *  `Format = PAX`: a ustar header (magic `ustar\0`, version `00`), a long name split into the
 *  prefix field where it fits, and an `x` header — named `<dir>/PaxHeaders.0/<base>` — only
 *  for what ustar cannot hold: long or non-ASCII names and link targets, big ids and sizes,
 *  times outside the octal range, and xattrs (`SCHILY.xattr.*`, raw bytes). */
import { invalidArgument } from "@bunkerd/plugin-api";
import {
  formatPaxRecords,
  PAX_GID,
  PAX_LINKPATH,
  PAX_MTIME,
  PAX_PATH,
  PAX_SCHILY_XATTR,
  PAX_SIZE,
  PAX_UID,
} from "./pax.ts";
import { TypeFlag } from "./tar.ts";

export interface WriteHeader {
  /** latin1 byte string; directories end in "/". */
  name: string;
  typeflag: number;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** Whole seconds (containerd truncates). */
  mtime: number;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  xattrs?: [name: string, value: Uint8Array][];
}

const BLOCK = 512;
const FLUSH = 1 << 20;
const MAX_OCTAL_7 = 0o7777777;
const MAX_OCTAL_11 = 0o77777777777;

const isAscii = (s: string) => /^[\x00-\x7f]*$/.test(s);

/** Go's splitUSTARPath: [prefix, name] when a long ASCII name fits the two fields. */
function splitUstar(name: string): [string, string] | undefined {
  let length = name.length;
  if (length <= 100 || !isAscii(name)) return undefined;
  if (length > 156) length = 156;
  else if (name[length - 1] === "/") length--;
  const i = name.lastIndexOf("/", length - 1);
  const nlen = name.length - i - 1;
  if (i <= 0 || nlen > 100 || nlen === 0 || i > 155) return undefined;
  return [name.slice(0, i), name.slice(i + 1)];
}

export class TarWriter {
  private buf = Buffer.allocUnsafe(FLUSH + BLOCK * 4);
  private fill = 0;
  private left = 0;
  private pad = 0;
  /** Uncompressed bytes produced. */
  written = 0;

  constructor(private readonly sink: (chunk: Uint8Array) => Promise<void>) {}

  async writeHeader(h: WriteHeader): Promise<void> {
    if (this.left !== 0) throw invalidArgument(`tar writer: previous entry short by ${this.left} bytes`);
    await this.endPad();
    await this.maybeFlush();
    const pax: [string, Uint8Array][] = [];
    let name = h.name;
    let prefix = "";
    if (name.length > 100 || !isAscii(name)) {
      const split = splitUstar(name);
      if (split) [prefix, name] = split;
      else pax.push([PAX_PATH, Buffer.from(h.name, "latin1")]);
    }
    const linkname = h.linkname ?? "";
    if (linkname.length > 100 || !isAscii(linkname))
      pax.push([PAX_LINKPATH, Buffer.from(linkname, "latin1")]);
    if (h.uid > MAX_OCTAL_7) pax.push([PAX_UID, Buffer.from(String(h.uid))]);
    if (h.gid > MAX_OCTAL_7) pax.push([PAX_GID, Buffer.from(String(h.gid))]);
    if (h.size > MAX_OCTAL_11) pax.push([PAX_SIZE, Buffer.from(String(h.size))]);
    if (h.mtime < 0 || h.mtime > MAX_OCTAL_11) pax.push([PAX_MTIME, Buffer.from(String(h.mtime))]);
    for (const [k, v] of h.xattrs ?? []) pax.push([PAX_SCHILY_XATTR + k, v]);
    if (pax.length > 0) {
      pax.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
      const body = formatPaxRecords(pax);
      const slash = h.name.replace(/\/+$/, "").lastIndexOf("/");
      const dir = slash < 0 ? "" : h.name.slice(0, slash + 1);
      const base = h.name.replace(/\/+$/, "").slice(slash + 1);
      const paxName = `${dir}PaxHeaders.0/${base}`.replace(/\/+$/, "");
      this.block({
        name: paxName.slice(0, 100),
        prefix: "",
        typeflag: TypeFlag.XHeader,
        mode: 0,
        uid: 0,
        gid: 0,
        size: body.length,
        mtime: 0,
        linkname: "",
        devmajor: 0,
        devminor: 0,
      });
      await this.raw(body, 0, body.length);
      await this.padTo(body.length);
    }
    this.block({
      name,
      prefix,
      typeflag: h.typeflag,
      mode: h.mode & 0o7777,
      uid: Math.min(h.uid, MAX_OCTAL_7),
      gid: Math.min(h.gid, MAX_OCTAL_7),
      size: Math.min(h.size, MAX_OCTAL_11),
      mtime: h.mtime < 0 || h.mtime > MAX_OCTAL_11 ? 0 : h.mtime,
      linkname: linkname.length > 100 || !isAscii(linkname) ? "" : linkname,
      devmajor: h.devmajor ?? 0,
      devminor: h.devminor ?? 0,
    });
    const body = h.typeflag === TypeFlag.Reg ? h.size : 0;
    this.left = body;
    this.pad = (BLOCK - (body % BLOCK)) % BLOCK;
    await this.maybeFlush();
  }

  /** Body bytes of the current entry. */
  async write(data: Uint8Array, start = 0, end = data.length): Promise<void> {
    if (end - start > this.left) throw invalidArgument("tar writer: write past the entry size");
    this.left -= end - start;
    await this.raw(data, start, end);
  }

  /** Ends the archive: two zero blocks, as Go's Writer.Close. */
  async close(): Promise<void> {
    if (this.left !== 0) throw invalidArgument(`tar writer: last entry short by ${this.left} bytes`);
    await this.endPad();
    this.buf.fill(0, this.fill, this.fill + 2 * BLOCK);
    this.fill += 2 * BLOCK;
    this.written += 2 * BLOCK;
    await this.flush();
  }

  private async endPad(): Promise<void> {
    if (this.pad > 0) {
      this.buf.fill(0, this.fill, this.fill + this.pad);
      this.fill += this.pad;
      this.written += this.pad;
      this.pad = 0;
    }
  }

  private async padTo(n: number): Promise<void> {
    const pad = (BLOCK - (n % BLOCK)) % BLOCK;
    this.buf.fill(0, this.fill, this.fill + pad);
    this.fill += pad;
    this.written += pad;
  }

  private async raw(data: Uint8Array, start: number, end: number): Promise<void> {
    while (start < end) {
      await this.maybeFlush();
      const take = Math.min(end - start, FLUSH - this.fill);
      this.buf.set(data.subarray(start, start + take), this.fill);
      this.fill += take;
      this.written += take;
      start += take;
    }
    await this.maybeFlush();
  }

  private async maybeFlush(): Promise<void> {
    if (this.fill >= FLUSH) await this.flush();
  }

  private async flush(): Promise<void> {
    if (this.fill === 0) return;
    const out = this.buf.subarray(0, this.fill);
    this.buf = Buffer.allocUnsafe(FLUSH + BLOCK * 4);
    this.fill = 0;
    await this.sink(out);
  }

  private block(h: {
    name: string;
    prefix: string;
    typeflag: number;
    mode: number;
    uid: number;
    gid: number;
    size: number;
    mtime: number;
    linkname: string;
    devmajor: number;
    devminor: number;
  }): void {
    const b = this.buf;
    const o = this.fill;
    b.fill(0, o, o + BLOCK);
    const str = (off: number, len: number, s: string) => {
      b.write(s.slice(0, len), o + off, len, "latin1");
    };
    // Go's formatOctal: zero-padded to the field width minus one, NUL-terminated.
    const oct = (off: number, len: number, n: number) => str(off, len, n.toString(8).padStart(len - 1, "0"));
    str(0, 100, h.name);
    oct(100, 8, h.mode);
    oct(108, 8, h.uid);
    oct(116, 8, h.gid);
    oct(124, 12, h.size);
    oct(136, 12, h.mtime);
    b[o + 156] = h.typeflag;
    str(157, 100, h.linkname);
    str(257, 6, "ustar\0");
    str(263, 2, "00");
    oct(329, 8, h.devmajor);
    oct(337, 8, h.devminor);
    str(345, 155, h.prefix);
    b.fill(0x20, o + 148, o + 156);
    let sum = 0;
    for (let i = o; i < o + BLOCK; i++) sum += b[i]!;
    str(148, 7, sum.toString(8).padStart(6, "0"));
    b[o + 154] = 0;
    b[o + 155] = 0x20;
    this.fill += BLOCK;
    this.written += BLOCK;
  }
}
