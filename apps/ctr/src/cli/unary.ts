/** A minimal gRPC unary client over HTTP/2 on a unix socket, for one-shot commands (`version`)
 *  whose whole run would otherwise be the start-up of an HTTP/2 library and Connect (~20 ms of a
 *  compiled bctr's ~38 ms). One connection, every call on its own stream at once, requests
 *  HPACK-encoded as literals (no table, no Huffman).
 *
 *  It answers only the happy path: a call's reply is its message bytes when the stream carried
 *  one whole length-prefixed message and then ended. Anything else (no unix socket, refused, a
 *  reset, trailers-only — how gRPC servers answer an error —, a timeout) gives `undefined`, and
 *  the caller repeats the work through the full Connect client, which reports errors properly.
 *  Replies are not HPACK-decoded: Go servers Huffman-code them, and a message is only sent on
 *  success. */

const PREFACE = new TextEncoder().encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
const DATA = 0;
const HEADERS = 1;
const RST_STREAM = 3;
const SETTINGS = 4;
const PING = 6;
const GOAWAY = 7;
const CONTINUATION = 9;
const END_STREAM = 0x1;
const ACK = 0x1;
const END_HEADERS = 0x4;
const PADDED = 0x8;

export interface UnaryRequest {
  /** `/package.Service/Method` */
  path: string;
  /** The serialized request message. */
  message: Uint8Array;
}

function frame(type: number, flags: number, stream: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(9 + payload.length);
  out[0] = payload.length >>> 16;
  out[1] = (payload.length >>> 8) & 0xff;
  out[2] = payload.length & 0xff;
  out[3] = type;
  out[4] = flags;
  new DataView(out.buffer).setUint32(5, stream);
  out.set(payload, 9);
  return out;
}

/** RFC 7541 §5.1 integer with an N-bit prefix; `first` holds the pattern bits above it. */
function hpackInt(out: number[], value: number, prefixBits: number, first: number): void {
  const max = (1 << prefixBits) - 1;
  if (value < max) {
    out.push(first | value);
    return;
  }
  out.push(first | max);
  let rest = value - max;
  while (rest >= 128) {
    out.push((rest & 0x7f) | 0x80);
    rest >>>= 7;
  }
  out.push(rest);
}

const utf8 = new TextEncoder();

function hpackString(out: number[], s: string): void {
  const b = utf8.encode(s);
  hpackInt(out, b.length, 7, 0);
  for (const x of b) out.push(x);
}

/** A header block of literals "without indexing" (§6.2.2): names by static index where RFC 7541
 *  Appendix A has them, new names otherwise. */
function headerBlock(path: string, headers: Record<string, string>): Uint8Array {
  const out: number[] = [0x83, 0x86]; // :method POST, :scheme http (static 3, 6)
  hpackInt(out, 4, 4, 0); // :path (static 4)
  hpackString(out, path);
  hpackInt(out, 1, 4, 0); // :authority (static 1)
  hpackString(out, "localhost");
  const all = { "content-type": "application/grpc", te: "trailers", ...headers };
  for (const [name, value] of Object.entries(all)) {
    out.push(0);
    hpackString(out, name);
    hpackString(out, value);
  }
  return new Uint8Array(out);
}

function grpcMessage(m: Uint8Array): Uint8Array {
  const out = new Uint8Array(5 + m.length);
  new DataView(out.buffer).setUint32(1, m.length);
  out.set(m, 5);
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const WINDOW_UPDATE = 8;
/** Requests above the default initial window would need send-side flow control: not here. */
const MAX_REQUEST = 65_535 - 5;
const MAX_FRAME = 16_384;

function windowUpdate(stream: number, n: number): Uint8Array {
  const p = new Uint8Array(4);
  new DataView(p.buffer).setUint32(0, n);
  return frame(WINDOW_UPDATE, 0, stream, p);
}

interface Call {
  body: Uint8Array[];
  resolve: (reply: Uint8Array | undefined) => void;
  timer?: ReturnType<typeof setTimeout>;
}

/** One HTTP/2 connection to a unix socket, opened on the first call; calls run concurrently,
 *  each on its own stream. A call resolves with the reply message or undefined (see the top);
 *  it never rejects. Replies of any size: every DATA frame is credited back at once. */
export class UnaryConnection {
  #sock: Bun.Socket | undefined;
  #opening = false;
  #broken = false;
  #pending: Uint8Array[] = [];
  #calls = new Map<number, Call>();
  #next = 1;
  #buf = new Uint8Array(0);

  constructor(readonly socketPath: string) {}

  call(path: string, headers: Record<string, string>, message: Uint8Array, timeoutMs = 0) {
    const { promise, resolve } = Promise.withResolvers<Uint8Array | undefined>();
    if (this.#broken || message.length > MAX_REQUEST) {
      resolve(undefined);
      return promise;
    }
    const stream = this.#next;
    this.#next += 2;
    const call: Call = { body: [], resolve };
    if (timeoutMs > 0) call.timer = setTimeout(() => this.#end(stream, false), timeoutMs);
    this.#calls.set(stream, call);
    const out = [frame(HEADERS, END_HEADERS, stream, headerBlock(path, headers))];
    const body = grpcMessage(message);
    for (let at = 0; at < body.length || at === 0; at += MAX_FRAME) {
      const last = at + MAX_FRAME >= body.length;
      out.push(frame(DATA, last ? END_STREAM : 0, stream, body.subarray(at, at + MAX_FRAME)));
      if (last) break;
    }
    this.#send(concat(out));
    return promise;
  }

  close(): void {
    this.#broken = true;
    this.#sock?.end();
    for (const stream of [...this.#calls.keys()]) this.#end(stream, false);
  }

  #send(bytes: Uint8Array): void {
    if (this.#sock) {
      // A short write means the socket's buffer is full: give up rather than buffer here.
      if (this.#sock.write(bytes) !== bytes.length) this.close();
      return;
    }
    this.#pending.push(bytes);
    if (this.#opening) return;
    this.#opening = true;
    this.#pending.unshift(PREFACE, frame(SETTINGS, 0, 0, new Uint8Array(0)));
    const fail = () => this.close();
    Bun.connect({
      unix: this.socketPath,
      socket: {
        open: (s) => {
          this.#sock = s;
          const hello = concat(this.#pending);
          this.#pending = [];
          if (this.#broken) s.end();
          else if (s.write(hello) !== hello.length) this.close();
        },
        data: (_s, chunk) => this.#data(chunk),
        close: fail,
        error: fail,
        connectError: fail,
      },
    }).catch(fail);
  }

  #data(chunk: Uint8Array): void {
    let buf = this.#buf.length ? concat([this.#buf, chunk]) : chunk;
    while (buf.length >= 9 && !this.#broken) {
      const len = (buf[0]! << 16) | (buf[1]! << 8) | buf[2]!;
      if (buf.length < 9 + len) break;
      const stream = new DataView(buf.buffer, buf.byteOffset).getUint32(5) & 0x7fffffff;
      this.#frame(buf[3]!, buf[4]!, stream, buf.subarray(9, 9 + len));
      buf = buf.subarray(9 + len);
    }
    this.#buf = buf.slice();
  }

  #frame(type: number, flags: number, stream: number, payload: Uint8Array): void {
    if (stream === 0) {
      if (type === SETTINGS && !(flags & ACK)) this.#send(frame(SETTINGS, ACK, 0, new Uint8Array(0)));
      else if (type === PING && !(flags & ACK)) this.#send(frame(PING, ACK, 0, payload));
      else if (type === GOAWAY) this.close();
      return;
    }
    const call = this.#calls.get(stream);
    if (!call) return;
    if (type === RST_STREAM) this.#end(stream, false);
    else if (type === DATA) {
      if (payload.length > 0)
        this.#send(concat([windowUpdate(0, payload.length), windowUpdate(stream, payload.length)]));
      const body = flags & PADDED ? payload.subarray(1, payload.length - payload[0]!) : payload;
      call.body.push(body.slice());
      if (flags & END_STREAM) this.#end(stream, true);
    } else if ((type === HEADERS || type === CONTINUATION) && flags & END_STREAM) {
      // Trailers (after a reply), or trailers-only: how gRPC answers an error.
      this.#end(stream, true);
    }
  }

  #end(stream: number, clean: boolean): void {
    const call = this.#calls.get(stream);
    if (!call) return;
    this.#calls.delete(stream);
    clearTimeout(call.timer);
    const body = concat(call.body);
    let reply: Uint8Array | undefined;
    if (clean && body.length >= 5 && body[0] === 0) {
      const len = new DataView(body.buffer, body.byteOffset).getUint32(1);
      if (body.length === 5 + len) reply = body.subarray(5);
    }
    call.resolve(reply);
  }
}

/** Calls every request at once on a new connection, then closes it. */
export async function unaryCalls(
  socketPath: string,
  headers: Record<string, string>,
  requests: UnaryRequest[],
  timeoutMs = 10_000,
): Promise<(Uint8Array | undefined)[]> {
  const conn = new UnaryConnection(socketPath);
  try {
    return await Promise.all(requests.map((r) => conn.call(r.path, headers, r.message, timeoutMs)));
  } finally {
    conn.close();
  }
}
