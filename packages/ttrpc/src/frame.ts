/** ttrpc framing: a 10-byte header (payload length u32 BE, stream id u32 BE, message type u8,
 *  flags u8) and the payload. Frames over the limit are refused on both sides, as containerd's
 *  ttrpc does (channel.go: messageLengthMax = 4 << 20). */

import { Code, fromStatus } from "@bunkerd/plugin-api";

export const HEADER_LENGTH = 10;
/** containerd's ttrpc refuses any payload above 4 MiB. */
export const MAX_MESSAGE_LENGTH = 4 << 20;

export const MessageType = { Request: 1, Response: 2, Data: 3 } as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

/** Request and data flags (ttrpc PROTOCOL.md); unary requests and all responses carry 0. */
export const Flag = { RemoteClosed: 0x1, RemoteOpen: 0x2, NoData: 0x4 } as const;

export interface FrameHeader {
  streamId: number;
  type: number;
  flags: number;
}

export interface Frame extends FrameHeader {
  payload: Uint8Array;
}

/** A frame whose declared length was over the limit: its bytes were skipped, only the header is kept. */
export interface OversizedFrame extends FrameHeader {
  oversized: number;
}

export type DecodedFrame = Frame | OversizedFrame;

export const isOversized = (f: DecodedFrame): f is OversizedFrame => "oversized" in f;

/** containerd's wording, so logs on both sides read the same. */
export const oversizedError = (length: number, max: number) =>
  fromStatus(Code.ResourceExhausted, `message length ${length} exceed maximum message size of ${max}`);

/** Header and payload in one buffer: one write for the socket, and nothing to interleave. */
export function encodeFrame(
  header: FrameHeader,
  payload: Uint8Array,
  maxLength = MAX_MESSAGE_LENGTH,
): Uint8Array {
  if (payload.length > maxLength) throw oversizedError(payload.length, maxLength);
  const out = new Uint8Array(HEADER_LENGTH + payload.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, payload.length);
  view.setUint32(4, header.streamId >>> 0);
  out[8] = header.type;
  out[9] = header.flags;
  out.set(payload, HEADER_LENGTH);
  return out;
}

/** Turns socket chunks of any size into whole frames. A frame split across chunks is
 *  assembled in one buffer of its declared size; several frames in a chunk come out in order.
 *  An oversized frame is skipped byte for byte, so the connection stays usable. */
export class FrameDecoder {
  private readonly header = new Uint8Array(HEADER_LENGTH);
  private headerFill = 0;
  private current: FrameHeader | undefined;
  private payload: Uint8Array | undefined;
  private payloadFill = 0;
  private skip = 0;

  constructor(private readonly maxLength = MAX_MESSAGE_LENGTH) {}

  /** Returns the frames completed by this chunk. Payloads are copies: the caller may keep them. */
  push(chunk: Uint8Array): DecodedFrame[] {
    const out: DecodedFrame[] = [];
    let pos = 0;
    while (pos < chunk.length) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, chunk.length - pos);
        this.skip -= n;
        pos += n;
        continue;
      }
      if (this.current === undefined) {
        // Fast path: a whole header and its payload sit in this chunk.
        if (this.headerFill === 0 && chunk.length - pos >= HEADER_LENGTH) {
          pos = this.readHeader(chunk, pos, out);
          continue;
        }
        const n = Math.min(HEADER_LENGTH - this.headerFill, chunk.length - pos);
        this.header.set(chunk.subarray(pos, pos + n), this.headerFill);
        this.headerFill += n;
        pos += n;
        if (this.headerFill === HEADER_LENGTH) {
          this.headerFill = 0;
          this.readHeader(this.header, 0, out);
        }
        continue;
      }
      const payload = this.payload!;
      const n = Math.min(payload.length - this.payloadFill, chunk.length - pos);
      payload.set(chunk.subarray(pos, pos + n), this.payloadFill);
      this.payloadFill += n;
      pos += n;
      if (this.payloadFill === payload.length) {
        out.push({ ...this.current, payload });
        this.current = undefined;
        this.payload = undefined;
      }
    }
    return out;
  }

  /** Bytes of a frame begun but not finished: a connection that ends here was cut mid-frame. */
  get partial(): boolean {
    return this.headerFill > 0 || this.current !== undefined || this.skip > 0;
  }

  /** Reads a header at `pos`; takes the payload too when it is all there. Returns the new position. */
  private readHeader(buf: Uint8Array, pos: number, out: DecodedFrame[]): number {
    const view = new DataView(buf.buffer, buf.byteOffset + pos, HEADER_LENGTH);
    const length = view.getUint32(0);
    const header: FrameHeader = { streamId: view.getUint32(4), type: buf[pos + 8]!, flags: buf[pos + 9]! };
    pos += HEADER_LENGTH;
    if (length > this.maxLength) {
      out.push({ ...header, oversized: length });
      this.skip = length;
      return pos;
    }
    if (buf !== this.header && buf.length - pos >= length) {
      out.push({ ...header, payload: buf.slice(pos, pos + length) });
      return pos + length;
    }
    this.current = header;
    this.payload = new Uint8Array(length);
    this.payloadFill = 0;
    if (length === 0) {
      out.push({ ...header, payload: this.payload });
      this.current = undefined;
      this.payload = undefined;
    }
    return pos;
  }
}
