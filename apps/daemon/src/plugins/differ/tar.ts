/** A streaming tar reader: push decompressed chunks in, get headers and body byte ranges out,
 *  synchronously, with no copy of file bodies. Reads what Go's archive/tar reads (so what
 *  containerd accepts): ustar, GNU (`L`/`K` long names and links, base-256 numbers, atime),
 *  PAX (`x` per entry, `g` global) with raw byte values, v7. Checksums are verified; a
 *  PAX or long-name body past 1 MiB, a negative size or a number past 2^53 is refused.
 *
 *  Go's rules kept on purpose: header-only types (links, devices, dirs, fifos) have no body
 *  whatever their size field says; an archive may end after one zero block or at a header
 *  boundary without any; a zero block followed by a non-zero one is an error; a `g` header is
 *  handed over as its own entry and not merged into later ones. */
import { BunkerError, invalidArgument, Kind } from "@bunkerd/plugin-api";
import {
  MAX_META_SIZE,
  PAX_ATIME,
  PAX_GID,
  PAX_GNAME,
  PAX_GNU_SPARSE,
  PAX_LINKPATH,
  PAX_MTIME,
  PAX_PATH,
  PAX_SCHILY_XATTR,
  PAX_SIZE,
  PAX_UID,
  PAX_UNAME,
  paxInt,
  parsePaxRecords,
  paxTime,
} from "./pax.ts";

/** Type flags, as byte values. */
export const TypeFlag = {
  Reg: 0x30, // '0'
  RegA: 0x00, // '\0', legacy regular file
  Link: 0x31, // '1'
  Symlink: 0x32, // '2'
  Char: 0x33, // '3'
  Block: 0x34, // '4'
  Dir: 0x35, // '5'
  Fifo: 0x36, // '6'
  Cont: 0x37, // '7'
  XHeader: 0x78, // 'x'
  XGlobalHeader: 0x67, // 'g'
  GNULongName: 0x4c, // 'L'
  GNULongLink: 0x4b, // 'K'
  GNUSparse: 0x53, // 'S'
} as const;

export interface TarHeader {
  typeflag: number;
  /** The entry name as a latin1 byte string (one char per byte), uncleaned. */
  name: string;
  linkname: string;
  /** Permission and setuid/setgid/sticky bits (type bits, if any, stripped). */
  mode: number;
  uid: number;
  gid: number;
  uname: string;
  gname: string;
  /** Size field (body length for regular files; header-only types have no body regardless). */
  size: number;
  mtime: number;
  mtimeNsec: number;
  /** Access time when the archive carries one (PAX atime, GNU atime field). */
  atime: number | undefined;
  atimeNsec: number;
  devmajor: number;
  devminor: number;
  /** This entry's PAX records, raw (undefined when there were none). */
  pax: Map<string, Uint8Array> | undefined;
}

/** Receives the archive as it is parsed. `data` gets body byte ranges of the current entry
 *  (views of the pushed chunk: use or copy them before returning). */
export interface TarSink {
  entry(h: TarHeader): void;
  data(chunk: Uint8Array, start: number, end: number): void;
  entryEnd(): void;
}

/** The SCHILY.xattr.* records of a header: [name (latin1), raw value]. */
export function xattrsOf(h: TarHeader): [string, Uint8Array][] {
  const out: [string, Uint8Array][] = [];
  if (!h.pax) return out;
  for (const [k, v] of h.pax) {
    if (k.startsWith(PAX_SCHILY_XATTR)) out.push([k.slice(PAX_SCHILY_XATTR.length), v]);
  }
  return out;
}

/** Header-only types: Go's isHeaderOnlyType. Their size field never means a body. */
export function isHeaderOnly(t: number): boolean {
  return (
    t === TypeFlag.Link ||
    t === TypeFlag.Symlink ||
    t === TypeFlag.Char ||
    t === TypeFlag.Block ||
    t === TypeFlag.Dir ||
    t === TypeFlag.Fifo
  );
}

const BLOCK = 512;
const invalid = (why: string) => invalidArgument(`invalid tar header: ${why}`);

enum Body {
  None = 0,
  Entry = 1,
  Meta = 2,
}

const asBuffer = (c: Uint8Array): Buffer =>
  Buffer.isBuffer(c) ? c : Buffer.from(c.buffer, c.byteOffset, c.length);

/** Parses a numeric field: octal ASCII (spaces/NULs trimmed), or base-256 when the high bit
 *  of the first byte is set (GNU/star). Throws past 2^53. */
function parseNumeric(b: Uint8Array, off: number, len: number, field: string): number {
  const first = b[off]!;
  if (first & 0x80) {
    // Base-256, two's complement when bit 6 is set.
    const neg = (first & 0x40) !== 0;
    let x = 0;
    for (let i = 0; i < len; i++) {
      let c = b[off + i]!;
      if (neg) c ^= 0xff;
      if (i === 0) c &= 0x7f;
      x = x * 256 + c;
      if (x > Number.MAX_SAFE_INTEGER) throw invalid(`${field} out of range`);
    }
    return neg ? -x - 1 : x;
  }
  let i = off;
  let end = off + len;
  while (i < end && (b[i] === 0x20 || b[i] === 0)) i++;
  while (end > i && (b[end - 1] === 0x20 || b[end - 1] === 0)) end--;
  let x = 0;
  for (; i < end; i++) {
    const c = b[i]! - 0x30;
    if (c < 0 || c > 7) throw invalid(`${field} is not an octal number`);
    x = x * 8 + c;
  }
  if (x > Number.MAX_SAFE_INTEGER) throw invalid(`${field} out of range`);
  return x;
}

function parseString(buf: Buffer, off: number, len: number): string {
  let end = off;
  const max = off + len;
  while (end < max && buf[end] !== 0) end++;
  return end === off ? "" : buf.toString("latin1", off, end);
}

function isZeroBlock(b: Uint8Array, off: number): boolean {
  for (let i = off, end = off + BLOCK; i < end; i++) if (b[i] !== 0) return false;
  return true;
}

function magicIs(b: Uint8Array, off: number, m: string): boolean {
  for (let i = 0; i < m.length; i++) if (b[off + i] !== m.charCodeAt(i)) return false;
  return true;
}

const FORMAT_V7 = 0;
const FORMAT_USTAR = 1;
const FORMAT_GNU = 2;
const FORMAT_STAR = 3;

/** Verifies the header checksum (unsigned or signed sum, as Go and GNU tar accept). */
function checkChecksum(b: Uint8Array, o: number): void {
  let u = 0;
  let s = 0;
  for (let i = o, end = o + BLOCK; i < end; i++) {
    const x = b[i]!;
    u += x;
    s += (x << 24) >> 24;
  }
  for (let i = o + 148; i < o + 156; i++) {
    const x = b[i]!;
    u -= x;
    s -= (x << 24) >> 24;
  }
  u += 8 * 0x20;
  s += 8 * 0x20;
  const want = parseNumeric(b, o + 148, 8, "checksum");
  if (want !== u && want !== s) throw invalid("checksum mismatch");
}

export class TarReader {
  private readonly hdr = new Uint8Array(BLOCK);
  private hdrFill = 0;
  private bodyLeft = 0;
  private body: Body = Body.None;
  private padLeft = 0;
  private meta: Uint8Array | undefined;
  private metaFill = 0;
  private metaType = 0;
  private pax: Map<string, Uint8Array> | undefined;
  private longName: string | undefined;
  private longLink: string | undefined;
  private zeroSeen = false;
  private ended = false;
  /** Bytes of archive consumed (up to and including the end marker). */
  offset = 0;

  constructor(private readonly sink: TarSink) {}

  /** True once the end-of-archive marker (two zero blocks) has been read. */
  get done(): boolean {
    return this.ended;
  }

  push(chunk: Uint8Array): void {
    const len = chunk.length;
    let off = 0;
    while (off < len) {
      if (this.bodyLeft > 0) {
        const take = Math.min(this.bodyLeft, len - off);
        if (this.body === Body.Entry) {
          this.sink.data(chunk, off, off + take);
        } else {
          this.meta!.set(chunk.subarray(off, off + take), this.metaFill);
          this.metaFill += take;
        }
        off += take;
        this.offset += take;
        this.bodyLeft -= take;
        if (this.bodyLeft === 0) this.finishBody();
        continue;
      }
      if (this.padLeft > 0) {
        const take = Math.min(this.padLeft, len - off);
        off += take;
        this.offset += take;
        this.padLeft -= take;
        continue;
      }
      if (this.ended) return;
      if (this.hdrFill === 0 && len - off >= BLOCK) {
        this.offset += BLOCK;
        this.header(chunk, off);
        off += BLOCK;
      } else {
        const take = Math.min(BLOCK - this.hdrFill, len - off);
        this.hdr.set(chunk.subarray(off, off + take), this.hdrFill);
        this.hdrFill += take;
        off += take;
        this.offset += take;
        if (this.hdrFill === BLOCK) {
          this.hdrFill = 0;
          this.header(this.hdr, 0);
        }
      }
    }
  }

  /** The input is over: throws if it stopped inside a header or a body. */
  end(): void {
    if (this.ended) return;
    if (this.hdrFill > 0 || this.bodyLeft > 0 || this.padLeft > 0) {
      throw new BunkerError(Kind.InvalidArgument, "invalid tar archive: unexpected EOF");
    }
  }

  private finishBody(): void {
    if (this.body === Body.Entry) {
      this.body = Body.None;
      this.sink.entryEnd();
      return;
    }
    this.body = Body.None;
    this.meta1();
  }

  private header(b: Uint8Array, o: number): void {
    if (isZeroBlock(b, o)) {
      if (this.zeroSeen) this.ended = true;
      this.zeroSeen = true;
      return;
    }
    if (this.zeroSeen) throw invalid("data after an end-of-archive block");
    checkChecksum(b, o);
    const buf = asBuffer(b);
    const typeflag = b[o + 156]!;
    const size = parseNumeric(b, o + 124, 12, "size");
    if (size < 0) throw invalid(`negative size ${size}`);

    if (
      typeflag === TypeFlag.XHeader ||
      typeflag === TypeFlag.XGlobalHeader ||
      typeflag === TypeFlag.GNULongName ||
      typeflag === TypeFlag.GNULongLink
    ) {
      if (size > MAX_META_SIZE) throw invalid(`extended header of ${size} bytes (limit ${MAX_META_SIZE})`);
      this.metaType = typeflag;
      this.meta = new Uint8Array(size);
      this.metaFill = 0;
      this.padLeft = (BLOCK - (size % BLOCK)) % BLOCK;
      if (typeflag === TypeFlag.XGlobalHeader) this.globalName = parseString(buf, o, 100);
      if (size === 0) {
        this.meta1();
      } else {
        this.body = Body.Meta;
        this.bodyLeft = size;
      }
      return;
    }

    let format = FORMAT_V7;
    if (magicIs(b, o + 257, "ustar\0")) {
      format = magicIs(b, o + 508, "tar\0") ? FORMAT_STAR : FORMAT_USTAR;
    } else if (magicIs(b, o + 257, "ustar  \0")) {
      format = FORMAT_GNU;
    }

    let name = parseString(buf, o, 100);
    let atime: number | undefined;
    let uname = "";
    let gname = "";
    let devmajor = 0;
    let devminor = 0;
    if (format !== FORMAT_V7) {
      uname = parseString(buf, o + 265, 32);
      gname = parseString(buf, o + 297, 32);
      if (typeflag === TypeFlag.Char || typeflag === TypeFlag.Block) {
        devmajor = parseNumeric(b, o + 329, 8, "devmajor");
        devminor = parseNumeric(b, o + 337, 8, "devminor");
      }
      if (format === FORMAT_USTAR || format === FORMAT_STAR) {
        const prefix = parseString(buf, o + 345, format === FORMAT_STAR ? 131 : 155);
        if (prefix.length > 0) name = `${prefix}/${name}`;
      } else if (b[o + 345] !== 0) {
        atime = parseNumeric(b, o + 345, 12, "atime");
      }
    }

    const h: TarHeader = {
      typeflag,
      name,
      linkname: parseString(buf, o + 157, 100),
      mode: parseNumeric(b, o + 100, 8, "mode") & 0o7777,
      uid: parseNumeric(b, o + 108, 8, "uid"),
      gid: parseNumeric(b, o + 116, 8, "gid"),
      uname,
      gname,
      size,
      mtime: parseNumeric(b, o + 136, 12, "mtime"),
      mtimeNsec: 0,
      atime,
      atimeNsec: 0,
      devmajor,
      devminor,
      pax: undefined,
    };

    if (this.pax !== undefined) {
      this.mergePax(h, this.pax);
      this.pax = undefined;
    }
    if (this.longName !== undefined) {
      h.name = this.longName;
      this.longName = undefined;
    }
    if (this.longLink !== undefined) {
      h.linkname = this.longLink;
      this.longLink = undefined;
    }
    if (h.typeflag === TypeFlag.RegA) {
      h.typeflag = h.name.endsWith("/") ? TypeFlag.Dir : TypeFlag.Reg;
    }
    if (h.typeflag === TypeFlag.GNUSparse) {
      throw new BunkerError(Kind.NotImplemented, `tar entry ${JSON.stringify(h.name)}: GNU sparse files`);
    }
    if (h.uid > 0xffffffff || h.gid > 0xffffffff || h.uid < 0 || h.gid < 0) {
      throw invalid(`uid/gid ${h.uid}/${h.gid} out of range`);
    }

    const bodySize = isHeaderOnly(h.typeflag) ? 0 : h.size;
    this.sink.entry(h);
    if (bodySize === 0) {
      this.sink.entryEnd();
      return;
    }
    this.body = Body.Entry;
    this.bodyLeft = bodySize;
    this.padLeft = (BLOCK - (bodySize % BLOCK)) % BLOCK;
  }

  private globalName = "";

  /** A complete meta body (`x`, `g`, `L`, `K`). */
  private meta1(): void {
    const body = this.meta!;
    this.meta = undefined;
    switch (this.metaType) {
      case TypeFlag.XHeader:
        this.pax = parsePaxRecords(body);
        return;
      case TypeFlag.XGlobalHeader: {
        const records = parsePaxRecords(body);
        const h: TarHeader = {
          typeflag: TypeFlag.XGlobalHeader,
          name: this.globalName,
          linkname: "",
          mode: 0,
          uid: 0,
          gid: 0,
          uname: "",
          gname: "",
          size: 0,
          mtime: 0,
          mtimeNsec: 0,
          atime: undefined,
          atimeNsec: 0,
          devmajor: 0,
          devminor: 0,
          pax: records,
        };
        this.sink.entry(h);
        this.sink.entryEnd();
        return;
      }
      case TypeFlag.GNULongName:
      case TypeFlag.GNULongLink: {
        const s = parseString(asBuffer(body), 0, body.length);
        if (this.metaType === TypeFlag.GNULongName) this.longName = s;
        else this.longLink = s;
        return;
      }
    }
  }

  /** Go's mergePAX: an empty value keeps the header's own field. */
  private mergePax(h: TarHeader, pax: Map<string, Uint8Array>): void {
    h.pax = pax;
    for (const [k, v] of pax) {
      if (v.length === 0) continue;
      switch (k) {
        case PAX_PATH:
          h.name = asBuffer(v).toString("latin1", 0, v.length);
          break;
        case PAX_LINKPATH:
          h.linkname = asBuffer(v).toString("latin1", 0, v.length);
          break;
        case PAX_UNAME:
          h.uname = asBuffer(v).toString("latin1", 0, v.length);
          break;
        case PAX_GNAME:
          h.gname = asBuffer(v).toString("latin1", 0, v.length);
          break;
        case PAX_UID:
          h.uid = paxInt(k, v);
          break;
        case PAX_GID:
          h.gid = paxInt(k, v);
          break;
        case PAX_SIZE:
          h.size = paxInt(k, v);
          if (h.size < 0) throw invalid(`negative size ${h.size}`);
          break;
        case PAX_MTIME:
          [h.mtime, h.mtimeNsec] = paxTime(k, v);
          break;
        case PAX_ATIME:
          [h.atime, h.atimeNsec] = paxTime(k, v);
          break;
        default:
          if (k.startsWith(PAX_GNU_SPARSE)) {
            throw new BunkerError(
              Kind.NotImplemented,
              `tar entry ${JSON.stringify(h.name)}: GNU sparse files`,
            );
          }
      }
    }
  }
}
