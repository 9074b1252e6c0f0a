/** One HTTP/2 request stream on our server, as the gRPC call layer sees it (ServerStream).
 *
 *  Receiving: DATA goes to the listener as it arrives; the flow-control window the client
 *  used is granted back once half of it is consumed, unless the call paused the stream (a
 *  slow client-streaming handler), so the client waits instead of our memory growing.
 *  Sending: a message that fits the windows goes straight into the connection's output;
 *  otherwise it waits in this stream's queue, and the connection sends it as the peer's
 *  WINDOW_UPDATEs and the socket allow. Trailers wait behind queued data. */
import type { RequestHeaders, ServerStream, StreamListener, Trailers } from "../grpc/transport.ts";
import type { H2Connection } from "./connection.ts";
import { ErrorCode } from "./frame.ts";

/** writeMessage() says "wait" beyond this many queued bytes; drained() resolves below LOW. */
const HIGH_WATER = 512 * 1024;
const LOW_WATER = 128 * 1024;

export class H2Stream implements ServerStream {
  listener: StreamListener | undefined;
  /** The client sent END_STREAM (or the stream was reset). */
  remoteClosed = false;
  /** We sent END_STREAM (or the stream was reset). */
  localClosed = false;
  /** Reset by either side, or its connection is gone: nothing more is sent or delivered. */
  reset = false;
  /** What the peer may still send us on this stream, and what it sent that we did not yet
   *  grant back. */
  recvWindow: number;
  recvUnacked = 0;
  private paused = false;
  private discarding = false;
  /** What we may still send on this stream (the peer's window; may go negative when the
   *  peer shrinks SETTINGS_INITIAL_WINDOW_SIZE). */
  sendWindow: number;
  /** Messages waiting for window: prefix and message chunks, and their byte count. */
  private queue: Uint8Array[] = [];
  private queueHead = 0;
  queuedBytes = 0;
  /** Trailers waiting behind queued data (encoded when sent: HPACK state follows wire order). */
  private pendingTrailers: Trailers | undefined;
  private waiters: (() => void)[] | undefined;
  /** In the connection's list of streams with data to send. */
  active = false;

  constructor(
    private readonly conn: H2Connection,
    readonly id: number,
    readonly headers: RequestHeaders,
    recvWindow: number,
    sendWindow: number,
  ) {
    this.recvWindow = recvWindow;
    this.sendWindow = sendWindow;
  }

  // ---- ServerStream: what the gRPC call uses ----

  get open(): boolean {
    return !this.reset;
  }

  listen(listener: StreamListener): void {
    this.listener = listener;
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.credit();
  }

  respond(): void {
    if (this.localClosed) return;
    this.conn.writeHeaders(this.id, this.conn.responseHeaders(), false);
  }

  writeMessage(message: Uint8Array): boolean {
    if (this.localClosed) return true;
    const total = message.length + 5;
    const conn = this.conn;
    if (this.queuedBytes === 0 && total <= this.sendWindow && conn.canSendDirect(total)) {
      this.sendWindow -= total;
      conn.writeMessageFrame(this.id, message);
      return true;
    }
    const prefix = new Uint8Array(5);
    const n = message.length;
    prefix[1] = n >>> 24;
    prefix[2] = (n >>> 16) & 0xff;
    prefix[3] = (n >>> 8) & 0xff;
    prefix[4] = n & 0xff;
    this.queue.push(prefix);
    if (n > 0) this.queue.push(message);
    this.queuedBytes += total;
    conn.activate(this);
    return this.queuedBytes < HIGH_WATER;
  }

  drained(): Promise<void> {
    if (this.reset || this.queuedBytes <= LOW_WATER) return Promise.resolve();
    this.waiters ??= [];
    const waiters = this.waiters;
    return new Promise((resolve) => waiters.push(resolve));
  }

  end(trailers: Trailers): void {
    if (this.localClosed) return;
    if (this.queuedBytes > 0) {
      this.pendingTrailers = trailers;
      return;
    }
    this.conn.writeHeaders(this.id, this.conn.trailersBlock(trailers), true);
    this.localEnd();
  }

  endWithStatus(httpStatus: number, trailers: Trailers): void {
    if (this.localClosed) return;
    this.dropQueue();
    this.conn.writeHeaders(this.id, this.conn.trailersOnlyBlock(httpStatus, trailers), true);
    this.localEnd();
  }

  discard(): void {
    this.discarding = true;
    this.listener = undefined;
    this.resume();
  }

  // ---- for the connection ----

  /** A DATA frame for this stream: `length` counts padding, as flow control does. */
  receiveData(data: Uint8Array, length: number, endStream: boolean): void {
    this.recvWindow -= length;
    if (this.recvWindow < 0) {
      this.conn.resetStream(this, ErrorCode.FlowControlError);
      return;
    }
    this.recvUnacked += length;
    if (data.length > 0 && !this.discarding) this.listener?.data(data);
    if (endStream) this.remoteEnd();
    else this.credit();
  }

  /** END_STREAM from the client, on DATA, HEADERS or trailers. */
  remoteEnd(): void {
    if (this.remoteClosed) return;
    this.remoteClosed = true;
    this.listener?.end();
    if (this.localClosed) this.conn.forget(this);
  }

  /** Sends queued data as the windows allow, up to `budget` bytes; then the trailers once
   *  the queue is empty. Returns the bytes sent. */
  sendQueued(budget: number): number {
    let sent = 0;
    const conn = this.conn;
    while (this.queuedBytes > 0 && sent < budget) {
      const n = Math.min(this.queuedBytes, this.sendWindow, conn.sendWindow, conn.peerMaxFrameSize);
      if (n <= 0) break;
      const payload = conn.startDataFrame(this.id, n);
      let filled = 0;
      while (filled < n) {
        const chunk = this.queue[this.queueHead]!;
        const take = Math.min(chunk.length, n - filled);
        conn.out.set(take === chunk.length ? chunk : chunk.subarray(0, take), payload + filled);
        filled += take;
        if (take === chunk.length) {
          this.queue[this.queueHead++] = undefined as unknown as Uint8Array;
        } else {
          this.queue[this.queueHead] = chunk.subarray(take);
        }
      }
      this.sendWindow -= n;
      conn.sendWindow -= n;
      this.queuedBytes -= n;
      sent += n;
    }
    if (this.queuedBytes === 0) {
      this.queue = [];
      this.queueHead = 0;
      if (this.pendingTrailers) {
        const trailers = this.pendingTrailers;
        this.pendingTrailers = undefined;
        conn.writeHeaders(this.id, conn.trailersBlock(trailers), true);
        this.localEnd();
      }
    } else if (this.queueHead > 1024) {
      this.queue = this.queue.slice(this.queueHead);
      this.queueHead = 0;
    }
    if (this.waiters && (this.queuedBytes <= LOW_WATER || this.reset)) this.wake();
    return sent;
  }

  /** The peer raised this stream's window (or SETTINGS moved it). */
  windowChanged(): void {
    if (this.queuedBytes > 0 && this.sendWindow > 0) this.conn.activate(this);
  }

  /** RST_STREAM either way, or the connection went away: tell the call if it is still on. */
  terminate(): void {
    if (this.reset) return;
    this.reset = true;
    this.remoteClosed = true;
    this.localClosed = true;
    this.dropQueue();
    this.wake();
    const listener = this.listener;
    this.listener = undefined;
    listener?.closed();
  }

  /** Grants back window the client used, once half of it is consumed (fewer, larger
   *  WINDOW_UPDATEs); never while paused, nor once the client has finished sending. */
  private credit(): void {
    if (this.paused || this.remoteClosed || this.reset) return;
    if (this.recvUnacked * 2 < this.conn.localInitialWindow) return;
    this.conn.writeWindowUpdate(this.id, this.recvUnacked);
    this.recvWindow += this.recvUnacked;
    this.recvUnacked = 0;
  }

  private localEnd(): void {
    this.localClosed = true;
    if (this.remoteClosed) this.conn.forget(this);
    else this.conn.resetWhenFlushed(this);
  }

  private dropQueue(): void {
    this.queue = [];
    this.queueHead = 0;
    this.queuedBytes = 0;
    this.pendingTrailers = undefined;
  }

  private wake(): void {
    const waiters = this.waiters;
    if (!waiters) return;
    this.waiters = undefined;
    for (const w of waiters) w();
  }
}
