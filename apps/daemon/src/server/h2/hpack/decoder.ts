/** HPACK decoder (RFC 7541): indexed fields, literals with and without indexing and never
 *  indexed, dynamic table size updates, Huffman strings. One per connection: the dynamic
 *  table is connection state, so every header block must be decoded, in order, even for a
 *  stream that is then refused. Any malformation throws HpackError (COMPRESSION_ERROR). */
import { DynamicTable } from "./dynamic-table.ts";
import { HpackError } from "./errors.ts";
import { huffmanDecode, latin1 } from "./huffman.ts";
import { staticTable } from "./static-table.ts";

const staticCount = staticTable.length;

export class HpackDecoder {
  readonly table: DynamicTable;
  private pos = 0;

  /**
   * @param maxTableSize our SETTINGS_HEADER_TABLE_SIZE: the most a size update may ask for.
   * @param maxHeaderListSize refuse a block whose fields sum (name + value + 32) beyond this.
   */
  constructor(
    private readonly maxTableSize = 4096,
    private readonly maxHeaderListSize = 16 << 20,
  ) {
    this.table = new DynamicTable(maxTableSize);
  }

  /** Decodes one complete header block into [name0, value0, name1, value1, …]. */
  decode(block: Uint8Array): string[] {
    const out: string[] = [];
    const end = block.length;
    let listSize = 0;
    let fieldsSeen = false;
    this.pos = 0;
    while (this.pos < end) {
      const b = block[this.pos]!;
      let name: string;
      let value: string;
      if (b & 0x80) {
        // Indexed field.
        const index = this.integer(block, 7);
        if (index === 0) throw new HpackError("hpack: index 0");
        if (index <= staticCount) {
          const e = staticTable[index - 1]!;
          name = e[0];
          value = e[1];
        } else {
          const i = index - staticCount - 1;
          if (i >= this.table.length) throw new HpackError(`hpack: index ${index} beyond the table`);
          name = this.table.name(i);
          value = this.table.value(i);
        }
      } else if (b & 0x40) {
        // Literal with incremental indexing: 6-bit name index.
        name = this.nameOf(block, 6);
        value = this.string(block);
        this.table.add(name, value);
      } else if (b & 0x20) {
        // Dynamic table size update: only before the first field of a block.
        if (fieldsSeen) throw new HpackError("hpack: table size update after a field");
        const size = this.integer(block, 5);
        if (size > this.maxTableSize) {
          throw new HpackError(`hpack: table size update ${size} beyond ${this.maxTableSize}`);
        }
        this.table.setMaxSize(size);
        continue;
      } else {
        // Literal without indexing (0000) or never indexed (0001): 4-bit name index.
        name = this.nameOf(block, 4);
        value = this.string(block);
      }
      fieldsSeen = true;
      listSize += name.length + value.length + 32;
      if (listSize > this.maxHeaderListSize) {
        throw new HpackError(`hpack: header list larger than ${this.maxHeaderListSize} bytes`);
      }
      out.push(name, value);
    }
    return out;
  }

  private nameOf(block: Uint8Array, prefix: number): string {
    const index = this.integer(block, prefix);
    if (index === 0) return this.string(block);
    if (index <= staticCount) return staticTable[index - 1]![0];
    const i = index - staticCount - 1;
    if (i >= this.table.length) throw new HpackError(`hpack: name index ${index} beyond the table`);
    return this.table.name(i);
  }

  /** An integer with an N-bit prefix (RFC 7541 5.1), at most 2^31 - 1. */
  private integer(block: Uint8Array, prefix: number): number {
    const mask = (1 << prefix) - 1;
    let v = block[this.pos++]! & mask;
    if (v < mask) return v;
    let shift = 0;
    for (;;) {
      if (this.pos >= block.length) throw new HpackError("hpack: truncated integer");
      const b = block[this.pos++]!;
      v += (b & 0x7f) * 2 ** shift;
      if (v > 0x7fffffff) throw new HpackError("hpack: integer overflow");
      if ((b & 0x80) === 0) return v;
      shift += 7;
    }
  }

  /** A string literal (RFC 7541 5.2), Huffman-coded or raw. */
  private string(block: Uint8Array): string {
    if (this.pos >= block.length) throw new HpackError("hpack: truncated string");
    const huffman = (block[this.pos]! & 0x80) !== 0;
    const length = this.integer(block, 7);
    const start = this.pos;
    const end = start + length;
    if (end > block.length) throw new HpackError("hpack: string beyond the block");
    this.pos = end;
    return huffman ? huffmanDecode(block, start, end) : latin1(block, start, end);
  }
}
