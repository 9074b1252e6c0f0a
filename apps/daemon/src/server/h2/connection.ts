/** One HTTP/2 connection, server side (RFC 9113), over any socket that writes like Bun's.
 *
 *  Input: bytes in, frames out of them, each handled in order. HEADERS + CONTINUATION are
 *  decoded with the connection's HPACK table and become an H2Stream handed to `onStream`.
 *  A protocol violation ends the connection with GOAWAY and the RFC's error code; a stream
 *  violation resets only that stream.
 *
 *  Output: every frame produced for this connection in one event-loop turn goes into one
 *  buffer, written with one socket write when the turn is over (setImmediate), or as soon as
 *  the code that produced it is done when no other call waits for its reply (scheduleFlush).
 *  That is the point of this server: node:http2 on Bun writes once per frame or reply. Bun's
 *  socket.write() takes what the kernel accepts and drops the rest (BUN-NOTES), so the
 *  rest waits in `backlog` for `drain`, and while it waits no more stream data is pulled
 *  into the buffer: the socket's pace is the third window, after the connection's and the
 *  stream's. */
import type { Logger } from "../grpc/call.ts";
import type { RequestHeaders, Trailers } from "../grpc/transport.ts";
import {
  ConnectionError,
  DEFAULT_MAX_FRAME,
  DEFAULT_WINDOW,
  ErrorCode,
  FRAME_HEADER,
  Flag,
  FrameType,
  MAX_WINDOW,
  PREFACE,
  readUint32,
  Setting,
  writeFrameHeader,
} from "./frame.ts";
import { HpackDecoder, HpackEncoder, HpackError } from "./hpack/index.ts";
import { H2Stream } from "./stream.ts";

/** The part of a Bun socket the connection uses. */
export interface Socket {
  /** Bytes taken (the rest is dropped); negative when closed. */
  write(data: Uint8Array): number;
  end(): void;
  /** Stop and restart reading: no new requests while a client does not read our replies. */
  pause(): void;
  resume(): void;
}

export interface ConnectionOptions {
  /** A new request stream, headers decoded. Called synchronously while input is read. */
  onStream(stream: H2Stream): void;
  log: Logger;
  /** SETTINGS_INITIAL_WINDOW_SIZE we announce: what a client may send on a stream before
   *  we grant more. Default 1 MiB. */
  streamWindow?: number;
  /** The connection-wide receive window. Default 16 MiB. */
  connectionWindow?: number;
  /** SETTINGS_MAX_CONCURRENT_STREAMS. grpc-go has no limit; default 2^20. */
  maxConcurrentStreams?: number;
  /** Largest decoded header list accepted (grpc-go's default: 16 MiB). */
  maxHeaderListSize?: number;
}

/** Frames we accept: the default SETTINGS_MAX_FRAME_SIZE, which we do not raise. */
const LOCAL_MAX_FRAME = DEFAULT_MAX_FRAME;
/** The output buffer's size to start with, and to go back to after a large turn: an idle
 *  connection should not hold megabytes. */
const OUT_INITIAL = 16 * 1024;
/** Stop pulling stream data into the output buffer beyond this; the socket needs to catch up. */
const OUT_LIMIT = 256 * 1024;
/** Bytes a stream may send in one turn of the round robin before the next stream's turn. */
const QUANTUM = 64 * 1024;
/** A header block (HEADERS + CONTINUATION) larger than this ends the connection. */
const MAX_HEADER_BLOCK = 1 << 20;
/** Stop reading the socket while this much output waits for it: a client that sends but does
 *  not read (requests, PINGs) cannot make us buffer replies without end. */
const BACKLOG_PAUSE = 1 << 20;

const grpcContentType = "application/grpc";
const responseFields: [string, string][] = [
  [":status", "200"],
  ["content-type", grpcContentType],
];

export class H2Connection {
  readonly log: Logger;
  /** Output buffer: frames of this turn, [0, outLen). */
  out: Buffer = Buffer.allocUnsafe(OUT_INITIAL);
  private outLen = 0;
  private backlog: Uint8Array[] = [];
  private backlogBytes = 0;
  private flushScheduled = false;
  private readingPaused = false;

  private readonly streams = new Map<number, H2Stream>();
  private lastStreamId = 0;
  private readonly decoder: HpackDecoder;
  /** Indexes only the fields every reply repeats, so after the first reply a client decodes
   *  them from one index byte each (as grpc-go's server does); never `grpc-message`. */
  private readonly encoder = new HpackEncoder({
    indexing: (name) => name === "content-type" || name === "grpc-status",
  });
  /** Encoded blocks reused while the encoder's table (its `version`) stays the same. */
  private readonly trailerBlocks = new WeakMap<Trailers, { block: Uint8Array; version: number }>();
  private responseBlock: { block: Uint8Array; version: number } | undefined;

  // Input state.
  private prefaceLeft = PREFACE.length;
  private settingsSeen = false;
  private pending: Buffer | undefined;
  private blockStream = 0;
  private blockParts: Uint8Array[] = [];
  private blockSize = 0;
  private blockEndStream = false;

  // Flow control.
  readonly localInitialWindow: number;
  private readonly connectionWindow: number;
  private recvWindow = DEFAULT_WINDOW;
  private recvUnacked = 0;
  sendWindow = DEFAULT_WINDOW;
  private peerInitialWindow = DEFAULT_WINDOW;
  peerMaxFrameSize = DEFAULT_MAX_FRAME;
  private readonly maxConcurrentStreams: number;
  /** Streams with queued data, in round-robin order from `activeHead`. */
  private activeList: H2Stream[] = [];
  private activeHead = 0;
  /** Streams we ended while the client was still sending: RST_STREAM(NO_ERROR) at flush,
   *  unless its END_STREAM arrived in the same turn. */
  private resetList: H2Stream[] = [];

  closed = false;
  /** GOAWAY sent: new streams are refused. */
  private goingAway = false;
  private onIdle: (() => void) | undefined;
  private readonly onStream: (stream: H2Stream) => void;

  constructor(
    private readonly socket: Socket,
    options: ConnectionOptions,
  ) {
    this.log = options.log;
    this.onStream = options.onStream;
    this.localInitialWindow = options.streamWindow ?? 1 << 20;
    this.connectionWindow = options.connectionWindow ?? 16 << 20;
    this.maxConcurrentStreams = options.maxConcurrentStreams ?? 1 << 20;
    this.decoder = new HpackDecoder(4096, options.maxHeaderListSize ?? 16 << 20);
  }

  /** Our side of the preface: SETTINGS, and the connection window raised to its size. */
  start(): void {
    const settings: [number, number][] = [
      [Setting.MaxConcurrentStreams, this.maxConcurrentStreams],
      [Setting.InitialWindowSize, this.localInitialWindow],
    ];
    const at = this.reserve(FRAME_HEADER + 6 * settings.length);
    writeFrameHeader(this.out, at, 6 * settings.length, FrameType.Settings, 0, 0);
    settings.forEach(([id, value], i) => {
      this.out.writeUInt16BE(id, at + FRAME_HEADER + 6 * i);
      this.out.writeUInt32BE(value, at + FRAME_HEADER + 6 * i + 2);
    });
    const raise = this.connectionWindow - DEFAULT_WINDOW;
    if (raise > 0) {
      this.writeWindowUpdate(0, raise);
      this.recvWindow += raise;
    }
    this.flush();
  }

  // ---- input ----

  /** Bytes from the socket. */
  receive(chunk: Buffer): void {
    if (this.closed) return;
    let buf = chunk;
    if (this.pending) {
      buf = Buffer.concat([this.pending, chunk]);
      this.pending = undefined;
    }
    let pos = 0;
    try {
      if (this.prefaceLeft > 0) pos = this.readPreface(buf);
      while (buf.length - pos >= FRAME_HEADER && !this.closed) {
        const length = (buf[pos]! << 16) | (buf[pos + 1]! << 8) | buf[pos + 2]!;
        if (length > LOCAL_MAX_FRAME) {
          throw new ConnectionError(ErrorCode.FrameSizeError, `frame of ${length} bytes`);
        }
        const end = pos + FRAME_HEADER + length;
        if (end > buf.length) break;
        const type = buf[pos + 3]!;
        const flags = buf[pos + 4]!;
        const id = readUint32(buf, pos + 5) & 0x7fffffff;
        const payload = buf.subarray(pos + FRAME_HEADER, end);
        pos = end;
        this.frame(type, flags, id, payload);
      }
    } catch (e) {
      this.fail(e);
      return;
    }
    if (pos < buf.length && !this.closed) this.pending = buf.subarray(pos);
  }

  private readPreface(buf: Buffer): number {
    const offset = PREFACE.length - this.prefaceLeft;
    const n = Math.min(this.prefaceLeft, buf.length);
    if (!buf.subarray(0, n).equals(PREFACE.subarray(offset, offset + n))) {
      throw new ConnectionError(ErrorCode.ProtocolError, "not an HTTP/2 client preface");
    }
    this.prefaceLeft -= n;
    return n;
  }

  private frame(type: number, flags: number, id: number, p: Buffer): void {
    if (this.blockStream !== 0 && type !== FrameType.Continuation) {
      throw new ConnectionError(ErrorCode.ProtocolError, "a header block was interrupted");
    }
    if (!this.settingsSeen && type !== FrameType.Settings) {
      throw new ConnectionError(ErrorCode.ProtocolError, "the preface must start with SETTINGS");
    }
    switch (type) {
      case FrameType.Data:
        this.onData(flags, id, p);
        break;
      case FrameType.Headers:
        this.onHeaders(flags, id, p);
        break;
      case FrameType.Continuation:
        this.onContinuation(flags, id, p);
        break;
      case FrameType.Settings:
        this.onSettings(flags, id, p);
        break;
      case FrameType.WindowUpdate:
        this.onWindowUpdate(id, p);
        break;
      case FrameType.Ping:
        this.onPing(flags, id, p);
        break;
      case FrameType.RstStream:
        this.onRstStream(id, p);
        break;
      case FrameType.Goaway:
        if (id !== 0) throw new ConnectionError(ErrorCode.ProtocolError, "GOAWAY on a stream");
        if (p.length < 8) throw new ConnectionError(ErrorCode.FrameSizeError, "short GOAWAY");
        if (readUint32(p, 4) !== ErrorCode.NoError) {
          this.log.debug(`h2: client GOAWAY, code ${readUint32(p, 4)}: ${p.subarray(8).toString()}`);
        }
        return;
      case FrameType.Priority:
        if (id === 0) throw new ConnectionError(ErrorCode.ProtocolError, "PRIORITY on stream 0");
        if (p.length !== 5) this.resetId(id, ErrorCode.FrameSizeError);
        return; // priorities are advice; every stream is served round robin
      case FrameType.PushPromise:
        throw new ConnectionError(ErrorCode.ProtocolError, "PUSH_PROMISE from a client");
      default:
        return; // unknown frame types are ignored (RFC 9113 4.1)
    }
  }

  private onData(flags: number, id: number, p: Buffer): void {
    if (id === 0) throw new ConnectionError(ErrorCode.ProtocolError, "DATA on stream 0");
    const length = p.length;
    let data: Buffer = p;
    if (flags & Flag.Padded) {
      const pad = length > 0 ? p[0]! : 0;
      if (length === 0 || pad >= length)
        throw new ConnectionError(ErrorCode.ProtocolError, "bad DATA padding");
      data = p.subarray(1, length - pad);
    }
    // The connection window is granted back as data arrives, whatever becomes of it.
    this.recvWindow -= length;
    if (this.recvWindow < 0)
      throw new ConnectionError(ErrorCode.FlowControlError, "connection window exceeded");
    this.recvUnacked += length;
    if (this.recvUnacked * 2 >= this.connectionWindow) {
      this.writeWindowUpdate(0, this.recvUnacked);
      this.recvWindow += this.recvUnacked;
      this.recvUnacked = 0;
    }
    const stream = this.streams.get(id);
    if (stream === undefined) {
      if (id > this.lastStreamId)
        throw new ConnectionError(ErrorCode.ProtocolError, `DATA on idle stream ${id}`);
      return; // a stream we closed or reset: late frames are dropped
    }
    if (stream.remoteClosed) {
      this.resetStream(stream, ErrorCode.StreamClosed);
      return;
    }
    stream.receiveData(data, length, (flags & Flag.EndStream) !== 0);
  }

  private onHeaders(flags: number, id: number, p: Buffer): void {
    if (id === 0) throw new ConnectionError(ErrorCode.ProtocolError, "HEADERS on stream 0");
    let start = 0;
    let end = p.length;
    if (flags & Flag.Padded) {
      if (p.length === 0) throw new ConnectionError(ErrorCode.FrameSizeError, "short HEADERS");
      end -= p[0]!;
      start = 1;
    }
    if (flags & Flag.Priority) start += 5;
    if (start > end) throw new ConnectionError(ErrorCode.ProtocolError, "bad HEADERS padding");
    const fragment = p.subarray(start, end);
    const endStream = (flags & Flag.EndStream) !== 0;
    if (flags & Flag.EndHeaders) {
      this.headerBlock(id, fragment, endStream);
      return;
    }
    this.blockStream = id;
    this.blockParts = [fragment];
    this.blockSize = fragment.length;
    this.blockEndStream = endStream;
  }

  private onContinuation(flags: number, id: number, p: Buffer): void {
    if (this.blockStream === 0 || id !== this.blockStream) {
      throw new ConnectionError(ErrorCode.ProtocolError, "CONTINUATION without its HEADERS");
    }
    this.blockParts.push(p);
    this.blockSize += p.length;
    if (this.blockSize > MAX_HEADER_BLOCK) {
      throw new ConnectionError(ErrorCode.EnhanceYourCalm, `header block over ${MAX_HEADER_BLOCK} bytes`);
    }
    if ((flags & Flag.EndHeaders) === 0) return;
    const block = Buffer.concat(this.blockParts);
    this.blockStream = 0;
    this.blockParts = [];
    this.headerBlock(id, block, this.blockEndStream);
  }

  /** A complete header block: a new request, or trailers on an open one. */
  private headerBlock(id: number, block: Uint8Array, endStream: boolean): void {
    const fields = this.decoder.decode(block); // always: the HPACK table must stay in step
    const existing = this.streams.get(id);
    if (existing !== undefined) {
      if (existing.remoteClosed) this.resetStream(existing, ErrorCode.StreamClosed);
      else if (!endStream)
        this.resetStream(existing, ErrorCode.ProtocolError); // trailers must end it
      else existing.remoteEnd();
      return;
    }
    if (id <= this.lastStreamId) {
      if (id % 2 === 1) return; // a stream already closed or reset
      throw new ConnectionError(ErrorCode.ProtocolError, `stream id ${id} is not a new client stream`);
    }
    if (id % 2 === 0)
      throw new ConnectionError(ErrorCode.ProtocolError, `even stream id ${id} from a client`);
    this.lastStreamId = id;
    if (this.goingAway) {
      this.resetId(id, ErrorCode.RefusedStream); // after our GOAWAY: the client may retry elsewhere
      return;
    }
    if (this.streams.size >= this.maxConcurrentStreams) {
      this.resetId(id, ErrorCode.RefusedStream);
      return;
    }
    const headers = headersOf(fields);
    if (headers === undefined) {
      this.resetId(id, ErrorCode.ProtocolError);
      return;
    }
    const stream = new H2Stream(this, id, headers, this.localInitialWindow, this.peerInitialWindow);
    this.streams.set(id, stream);
    try {
      this.onStream(stream);
    } catch (e) {
      // One broken call must not take the connection and every other call down with it.
      this.log.error("h2: stream handler failed", e);
      this.resetStream(stream, ErrorCode.InternalError);
      return;
    }
    if (endStream) stream.remoteEnd();
  }

  private onSettings(flags: number, id: number, p: Buffer): void {
    if (id !== 0) throw new ConnectionError(ErrorCode.ProtocolError, "SETTINGS on a stream");
    if (flags & Flag.Ack) {
      if (p.length !== 0) throw new ConnectionError(ErrorCode.FrameSizeError, "SETTINGS ack with a payload");
      return;
    }
    if (p.length % 6 !== 0) throw new ConnectionError(ErrorCode.FrameSizeError, "SETTINGS length");
    this.settingsSeen = true;
    for (let i = 0; i < p.length; i += 6) {
      const setting = (p[i]! << 8) | p[i + 1]!;
      const value = readUint32(p, i + 2);
      switch (setting) {
        case Setting.HeaderTableSize:
          this.encoder.setPeerMaxTableSize(value);
          break;
        case Setting.EnablePush:
          if (value > 1) throw new ConnectionError(ErrorCode.ProtocolError, "ENABLE_PUSH not 0 or 1");
          break;
        case Setting.InitialWindowSize:
          this.peerInitialWindowChanged(value);
          break;
        case Setting.MaxFrameSize:
          if (value < DEFAULT_MAX_FRAME || value > 0xffffff) {
            throw new ConnectionError(ErrorCode.ProtocolError, `MAX_FRAME_SIZE ${value}`);
          }
          this.peerMaxFrameSize = value;
          break;
        default:
          break; // MAX_CONCURRENT_STREAMS limits pushes, which we never make; others are advice
      }
    }
    const at = this.reserve(FRAME_HEADER);
    writeFrameHeader(this.out, at, 0, FrameType.Settings, Flag.Ack, 0);
    this.scheduleFlush();
  }

  private peerInitialWindowChanged(value: number): void {
    if (value > MAX_WINDOW)
      throw new ConnectionError(ErrorCode.FlowControlError, `INITIAL_WINDOW_SIZE ${value}`);
    const delta = value - this.peerInitialWindow;
    this.peerInitialWindow = value;
    if (delta === 0) return;
    for (const s of this.streams.values()) {
      s.sendWindow += delta;
      if (s.sendWindow > MAX_WINDOW)
        throw new ConnectionError(ErrorCode.FlowControlError, "stream window overflow");
      s.windowChanged();
    }
    this.scheduleFlush();
  }

  private onWindowUpdate(id: number, p: Buffer): void {
    if (p.length !== 4) throw new ConnectionError(ErrorCode.FrameSizeError, "WINDOW_UPDATE length");
    const increment = readUint32(p, 0) & 0x7fffffff;
    if (id === 0) {
      if (increment === 0) throw new ConnectionError(ErrorCode.ProtocolError, "WINDOW_UPDATE of 0");
      this.sendWindow += increment;
      if (this.sendWindow > MAX_WINDOW)
        throw new ConnectionError(ErrorCode.FlowControlError, "window overflow");
      if (this.activeHead < this.activeList.length) this.scheduleFlush();
      return;
    }
    const stream = this.streams.get(id);
    if (stream === undefined) {
      if (id > this.lastStreamId)
        throw new ConnectionError(ErrorCode.ProtocolError, `WINDOW_UPDATE on idle stream ${id}`);
      return;
    }
    if (increment === 0) {
      this.resetStream(stream, ErrorCode.ProtocolError);
      return;
    }
    stream.sendWindow += increment;
    if (stream.sendWindow > MAX_WINDOW) {
      this.resetStream(stream, ErrorCode.FlowControlError);
      return;
    }
    stream.windowChanged();
  }

  private onPing(flags: number, id: number, p: Buffer): void {
    if (id !== 0) throw new ConnectionError(ErrorCode.ProtocolError, "PING on a stream");
    if (p.length !== 8) throw new ConnectionError(ErrorCode.FrameSizeError, "PING length");
    if (flags & Flag.Ack) return;
    // grpc-go's BDP estimator and keepalive ping; the ack echoes the payload.
    const at = this.reserve(FRAME_HEADER + 8);
    writeFrameHeader(this.out, at, 8, FrameType.Ping, Flag.Ack, 0);
    this.out.set(p, at + FRAME_HEADER);
    this.scheduleFlush();
  }

  private onRstStream(id: number, p: Buffer): void {
    if (id === 0) throw new ConnectionError(ErrorCode.ProtocolError, "RST_STREAM on stream 0");
    if (p.length !== 4) throw new ConnectionError(ErrorCode.FrameSizeError, "RST_STREAM length");
    const stream = this.streams.get(id);
    if (stream === undefined) {
      if (id > this.lastStreamId)
        throw new ConnectionError(ErrorCode.ProtocolError, `RST_STREAM on idle stream ${id}`);
      return;
    }
    this.streams.delete(id);
    stream.terminate(); // the client cancelled: the call's signal aborts
    this.checkIdle();
  }

  // ---- output, for streams ----

  // Header blocks are encoded right before they are written: the encoder's table must see
  // blocks in wire order.

  /** The response headers every successful call starts with. */
  responseHeaders(): Uint8Array {
    const cached = this.responseBlock;
    if (cached && cached.version === this.encoder.version) return cached.block;
    const version = this.encoder.version;
    const block = this.encoder.encodeFields(responseFields);
    // A block that added to the table is a one-off; the next one refers to the entries.
    if (this.encoder.version === version) this.responseBlock = { block, version };
    return block;
  }

  trailersBlock(trailers: Trailers): Uint8Array {
    const frozen = Object.isFrozen(trailers);
    if (frozen) {
      const cached = this.trailerBlocks.get(trailers);
      if (cached && cached.version === this.encoder.version) return cached.block;
    }
    const version = this.encoder.version;
    const block = this.encoder.encodeFields(Object.entries(trailers));
    if (frozen && this.encoder.version === version) this.trailerBlocks.set(trailers, { block, version });
    return block;
  }

  trailersOnlyBlock(httpStatus: number, trailers: Trailers): Uint8Array {
    return this.encoder.encodeFields([
      [":status", String(httpStatus)],
      ["content-type", grpcContentType],
      ...Object.entries(trailers),
    ]);
  }

  /** HEADERS (and CONTINUATIONs when the block is larger than the peer's frame size). */
  writeHeaders(id: number, block: Uint8Array, endStream: boolean): void {
    const update = this.encoder.takeSizeUpdate();
    if (update) block = Buffer.concat([update, block]);
    const max = this.peerMaxFrameSize;
    let offset = 0;
    let type: number = FrameType.Headers;
    let flags = endStream ? Flag.EndStream : 0;
    for (;;) {
      const n = Math.min(max, block.length - offset);
      const last = offset + n === block.length;
      const at = this.reserve(FRAME_HEADER + n);
      writeFrameHeader(this.out, at, n, type, flags | (last ? Flag.EndHeaders : 0), id);
      this.out.set(n === block.length ? block : block.subarray(offset, offset + n), at + FRAME_HEADER);
      offset += n;
      if (last) break;
      type = FrameType.Continuation;
      flags = 0;
    }
    this.scheduleFlush();
  }

  /** Whether a message of `total` bytes (prefix included) may go out now, in one frame. */
  canSendDirect(total: number): boolean {
    return (
      total <= this.sendWindow &&
      total <= this.peerMaxFrameSize &&
      this.backlogBytes === 0 &&
      this.outLen < OUT_LIMIT &&
      !this.closed
    );
  }

  /** One DATA frame holding one whole gRPC message; the caller checked the windows. */
  writeMessageFrame(id: number, message: Uint8Array): void {
    const n = message.length;
    const total = n + 5;
    const at = this.reserve(FRAME_HEADER + total);
    const out = this.out;
    writeFrameHeader(out, at, total, FrameType.Data, 0, id);
    out[at + 9] = 0;
    out[at + 10] = n >>> 24;
    out[at + 11] = (n >>> 16) & 0xff;
    out[at + 12] = (n >>> 8) & 0xff;
    out[at + 13] = n & 0xff;
    out.set(message, at + 14);
    this.sendWindow -= total;
    this.scheduleFlush();
  }

  /** Reserves a DATA frame of `length` payload bytes; returns where the payload goes. */
  startDataFrame(id: number, length: number): number {
    const at = this.reserve(FRAME_HEADER + length);
    writeFrameHeader(this.out, at, length, FrameType.Data, 0, id);
    return at + FRAME_HEADER;
  }

  writeWindowUpdate(id: number, increment: number): void {
    const at = this.reserve(FRAME_HEADER + 4);
    writeFrameHeader(this.out, at, 4, FrameType.WindowUpdate, 0, id);
    this.out.writeUInt32BE(increment, at + FRAME_HEADER);
    this.scheduleFlush();
  }

  /** Puts a stream with queued data in the round robin. */
  activate(stream: H2Stream): void {
    if (!stream.active) {
      stream.active = true;
      this.activeList.push(stream);
    }
    this.scheduleFlush();
  }

  /** A stream error (RFC 9113 5.4.2): RST_STREAM, and the call hears its stream closed. */
  resetStream(stream: H2Stream, code: ErrorCode): void {
    this.resetId(stream.id, code);
    this.streams.delete(stream.id);
    stream.terminate();
    this.checkIdle();
  }

  /** Both sides ended the stream. */
  forget(stream: H2Stream): void {
    if (this.streams.get(stream.id) === stream) this.streams.delete(stream.id);
    this.checkIdle();
  }

  resetWhenFlushed(stream: H2Stream): void {
    this.resetList.push(stream);
    this.scheduleFlush();
  }

  private resetId(id: number, code: ErrorCode): void {
    const at = this.reserve(FRAME_HEADER + 4);
    writeFrameHeader(this.out, at, 4, FrameType.RstStream, 0, id);
    this.out.writeUInt32BE(code, at + FRAME_HEADER);
    this.scheduleFlush();
  }

  // ---- the output buffer and the socket ----

  /** Room for n more bytes at the end of the output buffer; returns where they go. */
  private reserve(n: number): number {
    const at = this.outLen;
    if (at + n > this.out.length) {
      const grown = Buffer.allocUnsafe(Math.max(this.out.length * 2, at + n));
      this.out.copy(grown, 0, 0, at);
      this.out = grown;
    }
    this.outLen = at + n;
    return at;
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || this.closed) return;
    this.flushScheduled = true;
    queueMicrotask(this.flushSoon);
  }

  /** Once the code that produced the frames is done: with no stream left waiting for its
   *  reply there is nothing to batch with, so the frames go now (a lone unary call, or the
   *  client's PING) instead of one loop iteration later, a tick that costs most after the
   *  thread slept. With calls in flight, the write waits until after this turn's microtasks
   *  (setImmediate): every reply the turn's input produced (handlers resolve in microtasks)
   *  and replies from worker messages handled in the same loop iteration go out in one write,
   *  a server stream's last message with its trailers among them. */
  private readonly flushSoon = (): void => {
    if (this.closed) {
      this.flushScheduled = false;
      return;
    }
    if (this.streams.size === 0) this.flush();
    else setImmediate(this.flush);
  };

  /** Writes this turn's frames, pulling queued stream data while the socket keeps up. */
  private readonly flush = (): void => {
    this.flushScheduled = false;
    if (this.closed) return;
    if (this.resetList.length > 0) this.sendResets();
    for (;;) {
      if (this.backlogBytes === 0) this.pump();
      if (this.outLen === 0 || !this.writeOut()) break;
      if (this.activeHead >= this.activeList.length || this.sendWindow <= 0) break;
    }
    if (this.goingAway) this.checkIdle();
  };

  /** RST_STREAM(NO_ERROR) for streams we answered while the client was still sending, as
   *  grpc-go does: the client stops sending a body nobody reads (RFC 9113 8.1). */
  private sendResets(): void {
    const list = this.resetList;
    this.resetList = [];
    for (const s of list) {
      if (s.remoteClosed || this.streams.get(s.id) !== s) continue;
      this.resetId(s.id, ErrorCode.NoError);
      this.streams.delete(s.id);
      s.terminate();
    }
    this.checkIdle();
  }

  /** Moves queued stream data into the output buffer, round robin, as windows allow. */
  private pump(): void {
    const list = this.activeList;
    while (this.activeHead < list.length && this.sendWindow > 0 && this.outLen < OUT_LIMIT) {
      const s = list[this.activeHead++]!;
      s.active = false;
      if (s.reset) continue;
      s.sendQueued(QUANTUM);
      if (s.queuedBytes > 0 && s.sendWindow > 0) {
        s.active = true;
        list.push(s);
      }
    }
    if (this.activeHead === list.length) {
      this.activeList = [];
      this.activeHead = 0;
    } else if (this.activeHead > 1024) {
      this.activeList = list.slice(this.activeHead);
      this.activeHead = 0;
    }
  }

  /** One socket write of the output buffer. False when the socket did not take it all. */
  private writeOut(): boolean {
    const data = this.out.subarray(0, this.outLen);
    if (this.backlogBytes > 0) {
      this.toBacklog(data);
      return false;
    }
    const n = this.socket.write(data);
    if (n < 0) {
      this.outLen = 0;
      return false;
    }
    if (n < data.length) {
      this.toBacklog(data.subarray(n));
      return false;
    }
    this.outLen = 0;
    if (this.out.length > OUT_LIMIT) this.out = Buffer.allocUnsafe(OUT_INITIAL);
    return true;
  }

  /** The output buffer now belongs to the backlog; later frames go to a fresh one. */
  private toBacklog(data: Uint8Array): void {
    this.backlog.push(data);
    this.backlogBytes += data.length;
    this.out = Buffer.allocUnsafe(OUT_INITIAL);
    this.outLen = 0;
    if (this.backlogBytes > BACKLOG_PAUSE && !this.readingPaused) {
      this.readingPaused = true;
      this.socket.pause();
    }
  }

  /** The socket's drain handler: the backlog first, then whatever else is waiting. */
  drain(): void {
    while (this.backlog.length > 0 && !this.closed) {
      const chunk = this.backlog[0]!;
      const n = this.socket.write(chunk);
      if (n < 0) return;
      this.backlogBytes -= n;
      if (n < chunk.length) {
        this.backlog[0] = chunk.subarray(n);
        return;
      }
      this.backlog.shift();
    }
    if (this.readingPaused) {
      this.readingPaused = false;
      this.socket.resume();
    }
    this.flush();
  }

  // ---- ending ----

  /** Graceful shutdown: GOAWAY naming the last stream we took; those go on, newer ones are
   *  refused. `onIdle` runs once no stream is left and all is written. */
  goaway(onIdle?: () => void): void {
    if (this.closed) {
      onIdle?.();
      return;
    }
    this.onIdle = onIdle;
    if (!this.goingAway) {
      this.goingAway = true;
      this.writeGoaway(this.lastStreamId, ErrorCode.NoError, "");
      this.flush();
    }
    this.checkIdle();
  }

  private checkIdle(): void {
    if (!this.goingAway || this.streams.size > 0 || this.backlogBytes > 0 || this.outLen > 0) return;
    const idle = this.onIdle;
    this.onIdle = undefined;
    idle?.();
  }

  private writeGoaway(lastStreamId: number, code: ErrorCode, debug: string): void {
    const info = Buffer.from(debug);
    const at = this.reserve(FRAME_HEADER + 8 + info.length);
    writeFrameHeader(this.out, at, 8 + info.length, FrameType.Goaway, 0, 0);
    this.out.writeUInt32BE(lastStreamId, at + FRAME_HEADER);
    this.out.writeUInt32BE(code, at + FRAME_HEADER + 4);
    this.out.set(info, at + FRAME_HEADER + 8);
  }

  /** A connection error: GOAWAY with its code, then the socket closes. */
  private fail(e: unknown): void {
    let code: ErrorCode = ErrorCode.InternalError;
    if (e instanceof ConnectionError) code = e.code;
    else if (e instanceof HpackError) code = ErrorCode.CompressionError;
    else this.log.error("h2: connection failed", e);
    const message = e instanceof Error ? e.message : String(e);
    this.log.debug(`h2: connection error ${code}: ${message}`);
    this.writeGoaway(this.lastStreamId, code, message);
    this.backlog = [];
    this.backlogBytes = 0;
    this.writeOut();
    this.destroy();
  }

  /** Closes the socket now (after this turn's frames, if the socket takes them); calls still
   *  running hear their stream closed. */
  destroy(): void {
    if (this.closed) return;
    if (this.outLen > 0) this.writeOut();
    this.socket.end();
    this.socketClosed();
  }

  /** The socket closed (either side). */
  socketClosed(): void {
    if (this.closed) return;
    this.closed = true;
    this.backlog = [];
    this.backlogBytes = 0;
    const streams = [...this.streams.values()];
    this.streams.clear();
    for (const s of streams) s.terminate();
    const idle = this.onIdle;
    this.onIdle = undefined;
    idle?.();
  }
}

/** Decoded fields as request headers; undefined for a malformed request (RFC 9113 8.2):
 *  upper-case names, pseudo-headers after regular ones, connection-specific fields. */
function headersOf(fields: string[]): RequestHeaders | undefined {
  const h: Record<string, string | string[]> = Object.create(null);
  let regular = false;
  for (let i = 0; i < fields.length; i += 2) {
    const name = fields[i]!;
    const value = fields[i + 1]!;
    if (name.charCodeAt(0) === 0x3a) {
      if (regular) return undefined;
    } else {
      regular = true;
      if (name === "connection" || (name === "te" && value !== "trailers")) return undefined;
    }
    for (let j = 0; j < name.length; j++) {
      const c = name.charCodeAt(j);
      if (c >= 0x41 && c <= 0x5a) return undefined;
    }
    const prev = h[name];
    if (prev === undefined) h[name] = value;
    else if (Array.isArray(prev)) prev.push(value);
    else h[name] = [prev, value];
  }
  return h;
}
