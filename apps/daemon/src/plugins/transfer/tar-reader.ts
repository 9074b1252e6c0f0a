/** A streaming tar reader for image archives: headers are parsed as bytes arrive and each
 *  entry's body is handed out as chunks, so a multi-GiB archive is never held in memory.
 *  Reads ustar, GNU (long names, base-256 sizes) and PAX (path, size) headers; every header's
 *  checksum is checked. The caller must consume or skip a body before asking for the next entry. */
import { invalidArgument } from "@bunkerd/plugin-api";

const BLOCK = 512;

export type EntryType = "file" | "dir" | "symlink" | "link" | "other";

export interface TarEntry {
  name: string;
  type: EntryType;
  size: number;
  linkname: string;
}

/** Pulls exact byte counts out of a chunk stream. */
class ByteReader {
  private buf: Uint8Array = new Uint8Array(0);
  private pos = 0;
  private done = false;

  constructor(private readonly it: AsyncIterator<Uint8Array>) {}

  private get available(): number {
    return this.buf.length - this.pos;
  }

  private async fill(): Promise<boolean> {
    if (this.done) return false;
    const n = await this.it.next();
    if (n.done) {
      this.done = true;
      return false;
    }
    const rest = this.buf.subarray(this.pos);
    if (rest.length === 0) this.buf = n.value;
    else {
      const joined = new Uint8Array(rest.length + n.value.length);
      joined.set(rest);
      joined.set(n.value, rest.length);
      this.buf = joined;
    }
    this.pos = 0;
    return true;
  }

  /** Exactly `n` bytes, or undefined at a clean end of input before any byte. */
  async exact(n: number): Promise<Uint8Array | undefined> {
    while (this.available < n) {
      if (!(await this.fill())) {
        if (this.available === 0) return undefined;
        throw invalidArgument("tar archive is truncated");
      }
    }
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  /** Up to `max` bytes (at least one), or undefined at the end of input. */
  async some(max: number): Promise<Uint8Array | undefined> {
    if (this.available === 0 && !(await this.fill())) return undefined;
    const n = Math.min(max, this.available);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
}

const decoder = new TextDecoder();

function cstring(b: Uint8Array): string {
  const end = b.indexOf(0);
  return decoder.decode(end === -1 ? b : b.subarray(0, end));
}

function numeric(b: Uint8Array, field: string): number {
  // GNU base-256: high bit of the first byte set.
  if (b[0]! & 0x80) {
    let v = b[0]! & 0x7f;
    for (let i = 1; i < b.length; i++) v = v * 256 + b[i]!;
    if (!Number.isSafeInteger(v)) throw invalidArgument(`tar header: ${field} is too large`);
    return v;
  }
  const s = cstring(b).trim();
  if (s === "") return 0;
  if (!/^[0-7]+$/.test(s)) throw invalidArgument(`tar header: ${field} ${JSON.stringify(s)} is not octal`);
  return Number.parseInt(s, 8);
}

function checksumOk(h: Uint8Array): boolean {
  const want = numeric(h.subarray(148, 156), "checksum");
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : h[i]!;
  return sum === want;
}

/** PAX records: `<len> key=value\n`. Only path, linkpath and size matter here. */
function parsePax(b: Uint8Array): Record<string, string> {
  const out: Record<string, string> = {};
  let i = 0;
  while (i < b.length) {
    const sp = b.indexOf(0x20, i);
    if (sp === -1) break;
    const len = Number.parseInt(decoder.decode(b.subarray(i, sp)), 10);
    if (!Number.isInteger(len) || len <= 0 || i + len > b.length)
      throw invalidArgument("tar: bad PAX record");
    const rec = b.subarray(sp + 1, i + len - 1);
    const eq = rec.indexOf(0x3d);
    if (eq > 0) out[decoder.decode(rec.subarray(0, eq))] = decoder.decode(rec.subarray(eq + 1));
    i += len;
  }
  return out;
}

/** Metadata entries (long names, PAX) are small; anything bigger is hostile. */
const MAX_META = 1 << 20;

const padding = (size: number) => (BLOCK - (size % BLOCK)) % BLOCK;

const typeOf = (flag: number): EntryType => {
  switch (flag) {
    case 0:
    case 0x30: // '0'
    case 0x37: // '7' contiguous file
      return "file";
    case 0x35:
      return "dir";
    case 0x32:
      return "symlink";
    case 0x31:
      return "link";
    default:
      return "other";
  }
};

export class TarReader {
  private readonly r: ByteReader;
  /** Body bytes of the current entry not read yet, and its padding. */
  private left = 0;
  private pad = 0;

  constructor(source: AsyncIterable<Uint8Array>) {
    this.r = new ByteReader(source[Symbol.asyncIterator]());
  }

  /** The next entry, or undefined at the end of the archive. */
  async next(): Promise<TarEntry | undefined> {
    await this.skip();
    let longName: string | undefined;
    let longLink: string | undefined;
    let pax: Record<string, string> = {};
    for (;;) {
      const h = await this.r.exact(BLOCK);
      if (!h || h.every((x) => x === 0)) return undefined;
      if (!checksumOk(h)) throw invalidArgument("tar header checksum does not match: not a tar archive?");
      const flag = h[156]!;
      const size = numeric(h.subarray(124, 136), "size");
      this.left = size;
      this.pad = padding(size);
      const meta = () => this.readAll(MAX_META, "tar metadata entry");
      if (flag === 0x4c /* 'L' */) {
        longName = cstring(await meta());
        continue;
      }
      if (flag === 0x4b /* 'K' */) {
        longLink = cstring(await meta());
        continue;
      }
      if (flag === 0x78 /* 'x' */) {
        pax = { ...pax, ...parsePax(await meta()) };
        continue;
      }
      if (flag === 0x67 /* 'g' */) {
        await meta();
        continue;
      }
      const magic = decoder.decode(h.subarray(257, 262));
      const prefix = magic === "ustar" ? cstring(h.subarray(345, 500)) : "";
      const base = cstring(h.subarray(0, 100));
      let name = pax.path ?? longName ?? (prefix ? `${prefix}/${base}` : base);
      const linkname = pax.linkpath ?? longLink ?? cstring(h.subarray(157, 257));
      let entrySize = size;
      if (pax.size !== undefined) {
        entrySize = Number(pax.size);
        if (!Number.isSafeInteger(entrySize) || entrySize < 0) throw invalidArgument("tar: bad PAX size");
      }
      const type = typeOf(flag);
      if (name.endsWith("/") && type === "file") name = name.replace(/\/+$/, "");
      this.left = entrySize;
      this.pad = padding(entrySize);
      return { name, type, size: entrySize, linkname };
    }
  }

  /** The current entry's body, in chunks of at most `max` bytes. */
  async *body(max = 1 << 20): AsyncGenerator<Uint8Array> {
    while (this.left > 0) {
      const chunk = await this.r.some(Math.min(max, this.left));
      if (!chunk) throw invalidArgument("tar archive is truncated");
      this.left -= chunk.length;
      yield chunk;
    }
  }

  /** The whole current body, refused past `limit` bytes. */
  async readAll(limit: number, what = "tar entry"): Promise<Uint8Array> {
    if (this.left > limit) throw invalidArgument(`${what} is ${this.left} bytes, more than ${limit} allowed`);
    const out = new Uint8Array(this.left);
    let at = 0;
    for await (const c of this.body()) {
      out.set(c, at);
      at += c.length;
    }
    await this.skip();
    return out;
  }

  /** Discards what is left of the current body and its padding. */
  async skip(): Promise<void> {
    for await (const _ of this.body()) {
      // drained
    }
    if (this.pad > 0) {
      const pad = this.pad;
      this.pad = 0;
      if (!(await this.r.exact(pad))) throw invalidArgument("tar archive is truncated");
    }
  }
}
