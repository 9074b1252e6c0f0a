/** HPACK encoder. Literals can be added to the dynamic table for all fields, for those a
 *  policy picks (the server indexes only its constant fields: `content-type`, `grpc-status`,
 *  so a reply's headers shrink to a few index bytes the client decodes for nothing) or for
 *  none. With indexing and Huffman it reproduces RFC 7541 Appendix C byte for byte.
 *
 *  The table is shared state with the peer's decoder: blocks must reach the wire in the order
 *  they were encoded. `version` changes whenever the table does, so a caller may reuse an
 *  encoded block while it stays the same. */
import { DynamicTable } from "./dynamic-table.ts";
import { huffmanEncode, huffmanLength } from "./huffman.ts";
import { staticNameIndex, staticPairIndex } from "./static-table.ts";

const staticCount = 61;

export interface EncoderOptions {
  /** Add literals to the dynamic table: all (true), none (false, the default), or those the
   *  function accepts. Entries already in the table are used either way. */
  indexing?: boolean | ((name: string, value: string) => boolean);
  /** Huffman-code strings when that is shorter. Default false. */
  huffman?: boolean;
  /** The peer's SETTINGS_HEADER_TABLE_SIZE. Default 4096. */
  maxTableSize?: number;
}

export class HpackEncoder {
  private readonly indexing: (name: string, value: string) => boolean;
  private readonly huffman: boolean;
  private readonly table: DynamicTable;
  /** A table size update owed at the start of the next block (RFC 7541 4.2), or -1. */
  private pendingSizeUpdate = -1;
  /** Changes with every change to the dynamic table. */
  version = 0;

  constructor(options: EncoderOptions = {}) {
    const indexing = options.indexing ?? false;
    this.indexing = typeof indexing === "function" ? indexing : () => indexing;
    this.huffman = options.huffman ?? false;
    this.table = new DynamicTable(options.maxTableSize ?? 4096);
  }

  /** The peer changed SETTINGS_HEADER_TABLE_SIZE. A smaller limit must be acknowledged with a
   *  size update before the next field; a larger one we simply do not use. */
  setPeerMaxTableSize(size: number): void {
    if (size >= this.table.maxSize) return;
    this.table.setMaxSize(size);
    this.pendingSizeUpdate = size;
    this.version++;
  }

  /** The size update the next block must start with, if any (cleared by the call). Blocks
   *  built ahead of time (constant replies) are prefixed with it. */
  takeSizeUpdate(): Uint8Array | undefined {
    if (this.pendingSizeUpdate < 0) return undefined;
    const out = new Uint8Array(6);
    const end = writeInteger(out, 0, this.pendingSizeUpdate, 5, 0x20);
    this.pendingSizeUpdate = -1;
    return out.subarray(0, end);
  }

  /** One header block for these fields, in order, starting with a size update if one is
   *  owed. Names must be lower case. */
  encode(fields: Iterable<readonly [string, string]>): Uint8Array {
    const update = this.takeSizeUpdate();
    const block = this.encodeFields(fields);
    if (!update) return block;
    const out = new Uint8Array(update.length + block.length);
    out.set(update);
    out.set(block, update.length);
    return out;
  }

  /** The fields alone, for a block whose size update (`takeSizeUpdate`) is added when it is
   *  sent: blocks kept for reuse must not carry one. */
  encodeFields(fields: Iterable<readonly [string, string]>): Uint8Array {
    let out = new Uint8Array(256);
    let at = 0;
    const ensure = (n: number) => {
      if (at + n <= out.length) return;
      const grown = new Uint8Array(Math.max(out.length * 2, at + n));
      grown.set(out.subarray(0, at));
      out = grown;
    };
    for (const [name, value] of fields) {
      ensure(name.length + value.length + 20);
      at = this.field(out, at, name, value);
    }
    return out.slice(0, at);
  }

  private field(out: Uint8Array, at: number, name: string, value: string): number {
    const full = staticPairIndex.get(`${name}\0${value}`);
    if (full !== undefined) return writeInteger(out, at, full, 7, 0x80);
    const dyn = this.table.length > 0 ? this.table.find(name, value) : undefined;
    if (dyn !== undefined && dyn >= 0) return writeInteger(out, at, staticCount + 1 + dyn, 7, 0x80);
    const nameIndex = staticNameIndex.get(name) ?? (dyn !== undefined ? staticCount - dyn : 0);
    const index = this.indexing(name, value) && name.length + value.length + 32 <= this.table.maxSize;
    at = index ? writeInteger(out, at, nameIndex, 6, 0x40) : writeInteger(out, at, nameIndex, 4, 0x00);
    if (nameIndex === 0) at = this.string(out, at, name);
    at = this.string(out, at, value);
    if (index) {
      this.table.add(name, value);
      this.version++;
    }
    return at;
  }

  private string(out: Uint8Array, at: number, s: string): number {
    if (this.huffman) {
      const n = huffmanLength(s);
      if (n <= s.length) {
        at = writeInteger(out, at, n, 7, 0x80);
        return huffmanEncode(s, out, at);
      }
    }
    at = writeInteger(out, at, s.length, 7, 0);
    for (let i = 0; i < s.length; i++) out[at++] = s.charCodeAt(i) & 0xff;
    return at;
  }
}

/** Writes an integer with an N-bit prefix (RFC 7541 5.1); `flags` fills the bits above it. */
export function writeInteger(out: Uint8Array, at: number, v: number, prefix: number, flags: number): number {
  const max = (1 << prefix) - 1;
  if (v < max) {
    out[at++] = flags | v;
    return at;
  }
  out[at++] = flags | max;
  v -= max;
  while (v >= 128) {
    out[at++] = (v % 128) | 0x80;
    v = Math.floor(v / 128);
  }
  out[at++] = v;
  return at;
}
