/** Follows the frame and block structure of a zstd stream (RFC 8878 §3) without decoding it,
 *  to tell a complete stream from a truncated one: Bun 1.4.4's createZstdDecompress ends
 *  quietly on input cut inside a frame. Reads only frame headers and 3-byte block headers. */
import { invalidArgument } from "@bunkerd/plugin-api";

enum S {
  Magic, // 4 bytes
  FrameHeader, // descriptor + window + dict id + content size
  BlockHeader, // 3 bytes
  Skip, // block body, checksum or skippable frame body
  SkippableSize, // 4 bytes
}

const ZSTD_MAGIC = 0xfd2fb528;
const SKIPPABLE_MASK = 0xfffffff0;
const SKIPPABLE_START = 0x184d2a50;

const bad = (why: string) => invalidArgument(`zstd stream: ${why}`);

export class ZstdFrameChecker {
  private state = S.Magic;
  private need = 4;
  private readonly buf = new Uint8Array(16);
  private fill = 0;
  private skip = 0;
  private checksum = false;
  /** After the skip: more blocks (false) or the frame is done (true). */
  private lastBlock = false;
  frames = 0;

  push(chunk: Uint8Array): void {
    let off = 0;
    const len = chunk.length;
    while (off < len) {
      if (this.state === S.Skip) {
        const take = Math.min(this.skip, len - off);
        off += take;
        this.skip -= take;
        if (this.skip === 0) this.afterSkip();
        continue;
      }
      const take = Math.min(this.need - this.fill, len - off);
      this.buf.set(chunk.subarray(off, off + take), this.fill);
      this.fill += take;
      off += take;
      if (this.fill < this.need) return;
      this.field();
    }
  }

  /** Throws unless the input ended exactly between frames. */
  finish(): void {
    if (this.state !== S.Magic || this.fill !== 0 || this.frames === 0) {
      throw bad("unexpected end of input (truncated frame)");
    }
  }

  private u32(at: number): number {
    const b = this.buf;
    return (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;
  }

  private afterSkip(): void {
    if (this.lastBlock) {
      this.toMagic();
    } else {
      this.state = S.BlockHeader;
      this.need = 3;
    }
  }

  private toMagic(): void {
    this.frames++;
    this.state = S.Magic;
    this.need = 4;
    this.fill = 0;
  }

  private field(): void {
    switch (this.state) {
      case S.Magic: {
        const magic = this.u32(0);
        this.fill = 0;
        if (magic === ZSTD_MAGIC) {
          this.state = S.FrameHeader;
          this.need = 1;
        } else if ((magic & SKIPPABLE_MASK) >>> 0 === SKIPPABLE_START) {
          this.state = S.SkippableSize;
          this.need = 4;
        } else {
          throw bad(`unknown frame magic 0x${magic.toString(16)}`);
        }
        return;
      }
      case S.SkippableSize: {
        this.skip = this.u32(0);
        this.fill = 0;
        this.lastBlock = true;
        if (this.skip === 0) this.toMagic();
        else this.state = S.Skip;
        return;
      }
      case S.FrameHeader: {
        const fhd = this.buf[0]!;
        if (fhd & 0x08) throw bad("reserved frame header bit set");
        const fcsFlag = fhd >> 6;
        const single = (fhd >> 5) & 1;
        const did = [0, 1, 2, 4][fhd & 3]!;
        const fcs = fcsFlag === 0 ? single : [0, 2, 4, 8][fcsFlag]!;
        const total = 1 + (single ? 0 : 1) + did + fcs;
        if (this.need < total) {
          this.need = total;
          return;
        }
        this.checksum = (fhd & 0x04) !== 0;
        this.fill = 0;
        this.state = S.BlockHeader;
        this.need = 3;
        return;
      }
      case S.BlockHeader: {
        const h = this.buf[0]! | (this.buf[1]! << 8) | (this.buf[2]! << 16);
        this.fill = 0;
        const last = (h & 1) === 1;
        const type = (h >> 1) & 3;
        const size = h >>> 3;
        if (type === 3) throw bad("reserved block type");
        let skip = type === 1 ? 1 : size;
        if (last && this.checksum) skip += 4;
        this.lastBlock = last;
        this.skip = skip;
        if (skip === 0) this.afterSkip();
        else this.state = S.Skip;
        return;
      }
    }
  }
}
