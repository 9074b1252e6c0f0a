/** Reading a blob: an open file and its size (containerd's `sizeReaderAt`). The file is opened
 *  once, so a blob deleted mid-read still reads to its end. Chunks are fresh buffers of at most
 *  1 MiB (containerd's read buffer), safe to transfer to another worker; the blob is never
 *  held in memory whole. */
import type { FileHandle } from "node:fs/promises";

export const CHUNK_SIZE = 1 << 20;

export class ReaderAt implements AsyncDisposable {
  #fh: FileHandle | undefined;

  constructor(
    fh: FileHandle,
    readonly size: number,
  ) {
    this.#fh = fh;
  }

  #handle(): FileHandle {
    if (!this.#fh) throw new Error("reader is closed");
    return this.#fh;
  }

  /** Up to `length` bytes at `offset`; shorter only at the end of the blob. */
  async readAt(offset: number, length: number): Promise<Uint8Array> {
    const fh = this.#handle();
    const want = Math.max(0, Math.min(length, this.size - offset));
    const buf = new Uint8Array(want);
    let got = 0;
    while (got < want) {
      const { bytesRead } = await fh.read(buf, got, want - got, offset + got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    return got === want ? buf : buf.subarray(0, got);
  }

  /** The bytes in [offset, offset + length), in chunks of at most `chunkSize`. */
  async *chunks(offset = 0, length = this.size - offset, chunkSize = CHUNK_SIZE): AsyncGenerator<Uint8Array> {
    const end = Math.min(this.size, offset + length);
    for (let pos = offset; pos < end; ) {
      const chunk = await this.readAt(pos, Math.min(chunkSize, end - pos));
      if (chunk.length === 0) return;
      pos += chunk.length;
      yield chunk;
    }
  }

  async close(): Promise<void> {
    const fh = this.#fh;
    this.#fh = undefined;
    await fh?.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** A read of one range of a blob: iterate it for the chunks; the file closes when the
 *  iteration ends (or on `close` if it is never iterated). */
export class BlobReader implements AsyncIterable<Uint8Array>, AsyncDisposable {
  constructor(
    readonly reader: ReaderAt,
    /** Where the range starts in the blob. */
    readonly offset: number,
    /** How many bytes the range holds. */
    readonly length: number,
  ) {}

  async *[Symbol.asyncIterator](): AsyncGenerator<Uint8Array> {
    try {
      yield* this.reader.chunks(this.offset, this.length);
    } finally {
      await this.reader.close();
    }
  }

  close(): Promise<void> {
    return this.reader.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
