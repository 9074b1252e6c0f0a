/** A small tar reader and writer for image archives (OCI layout, docker save): regular files
 *  and directories, GNU long names and PAX `path` records. Layers inside are opaque blobs here;
 *  the daemon's differ is what reads layer tars. */
import { closeSync, openSync, writeSync } from "node:fs";

const BLOCK = 512;
const enc = new TextEncoder();
const dec = new TextDecoder();

export interface TarEntry {
  name: string;
  type: "file" | "dir" | "other";
  data: Uint8Array;
}

const field = (b: Uint8Array, off: number, len: number) => {
  const s = b.subarray(off, off + len);
  const z = s.indexOf(0);
  return dec.decode(z >= 0 ? s.subarray(0, z) : s);
};
const octal = (b: Uint8Array, off: number, len: number) => {
  if (b[off]! & 0x80) {
    // base-256 (GNU) for sizes beyond 8 GiB
    let n = 0;
    for (let i = 1; i < len; i++) n = n * 256 + b[off + i]!;
    return n;
  }
  return Number.parseInt(field(b, off, len).trim() || "0", 8);
};

function pax(data: Uint8Array): Record<string, string> {
  const out: Record<string, string> = {};
  let i = 0;
  while (i < data.length) {
    const sp = data.indexOf(0x20, i);
    if (sp < 0) break;
    const len = Number(dec.decode(data.subarray(i, sp)));
    if (!len) break;
    const rec = dec.decode(data.subarray(sp + 1, i + len - 1));
    const eq = rec.indexOf("=");
    out[rec.slice(0, eq)] = rec.slice(eq + 1);
    i += len;
  }
  return out;
}

/** Every entry of a tar held in memory; names without a leading "./". */
export function readTar(tar: Uint8Array): TarEntry[] {
  const out: TarEntry[] = [];
  let longName: string | undefined;
  let off = 0;
  while (off + BLOCK <= tar.length) {
    const h = tar.subarray(off, off + BLOCK);
    if (h.every((b) => b === 0)) break;
    const size = octal(h, 124, 12);
    const flag = String.fromCharCode(h[156]!);
    const data = tar.subarray(off + BLOCK, off + BLOCK + size);
    off += BLOCK + Math.ceil(size / BLOCK) * BLOCK;
    if (flag === "L") {
      longName = field(data, 0, data.length);
      continue;
    }
    if (flag === "x") {
      longName = pax(data).path ?? longName;
      continue;
    }
    if (flag === "g") continue;
    const prefix = field(h, 345, 155);
    let name = longName ?? (prefix ? `${prefix}/${field(h, 0, 100)}` : field(h, 0, 100));
    longName = undefined;
    name = name.replace(/^\.\//, "").replace(/\/$/, "");
    const type = flag === "0" || flag === "\0" ? "file" : flag === "5" ? "dir" : "other";
    out.push({ name, type, data });
  }
  return out;
}

function header(name: string, size: number, dir: boolean): Uint8Array {
  const h = new Uint8Array(BLOCK);
  const put = (s: string, off: number) => h.set(enc.encode(s), off);
  const num = (n: number, off: number, len: number) => put(`${n.toString(8).padStart(len - 1, "0")}\0`, off);
  if (enc.encode(name).length > 100) throw new Error(`tar entry name too long: ${name}`);
  put(name, 0);
  num(dir ? 0o755 : 0o444, 100, 8);
  num(0, 108, 8);
  num(0, 116, 8);
  num(size, 124, 12);
  num(0, 136, 12);
  h.fill(0x20, 148, 156);
  h[156] = (dir ? "5" : "0").charCodeAt(0);
  put("ustar\0", 257);
  put("00", 263);
  let sum = 0;
  for (const b of h) sum += b;
  put(`${sum.toString(8).padStart(6, "0")}\0 `, 148);
  return h;
}

/** Writes a tar to a file (or stdout for "-") entry by entry, streaming file bodies. */
export class TarWriter {
  private readonly fd: number;
  constructor(path: string) {
    this.fd = path === "-" ? 1 : openSync(path, "w", 0o644);
  }
  private put(b: Uint8Array) {
    let o = 0;
    while (o < b.length) o += writeSync(this.fd, b, o);
  }
  dir(name: string) {
    this.put(header(name.endsWith("/") ? name : `${name}/`, 0, true));
  }
  async file(name: string, size: number, body: AsyncIterable<Uint8Array> | Uint8Array) {
    this.put(header(name, size, false));
    let n = 0;
    if (body instanceof Uint8Array) {
      this.put(body);
      n = body.length;
    } else {
      for await (const c of body) {
        this.put(c);
        n += c.length;
      }
    }
    if (n !== size) throw new Error(`tar entry ${name}: wrote ${n} bytes, expected ${size}`);
    const pad = (BLOCK - (size % BLOCK)) % BLOCK;
    if (pad) this.put(new Uint8Array(pad));
  }
  close() {
    this.put(new Uint8Array(BLOCK * 2));
    if (this.fd !== 1) closeSync(this.fd);
  }
}
