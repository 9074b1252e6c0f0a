/** The cheapest client that proves a daemon is ready: one unix-socket connection, one
 *  hand-framed HTTP/2 + gRPC `Version/Version` call, no HTTP/2 library. Spawning `ctr` would
 *  add its own ~10+ ms Go start to every boot sample; this costs well under a millisecond.
 *
 *  Success means the reply carried a `VersionResponse` message with a non-empty version and
 *  then the trailers closed the stream. We do not decode HPACK (grpc-go Huffman-codes its
 *  headers); a unary reply message is only sent on success, and a failed call is trailers-only
 *  or a reset. The load client (grpc-load.mjs) checks `grpc-status: 0` on every call. */

const VERSION_PATH = "/containerd.services.version.v1.Version/Version";

enum FrameType {
  Data = 0,
  Headers = 1,
  RstStream = 3,
  Settings = 4,
  GoAway = 7,
}
const END_STREAM = 0x1;
const ACK = 0x1;
const END_HEADERS = 0x4;
const PADDED = 0x8;

function frame(type: number, flags: number, stream: number, payload: Uint8Array): Uint8Array {
  const f = new Uint8Array(9 + payload.length);
  const v = new DataView(f.buffer);
  v.setUint32(0, (payload.length << 8) | type);
  f[4] = flags;
  v.setUint32(5, stream);
  f.set(payload, 9);
  return f;
}

/** HPACK: literal header field without indexing, new name, no Huffman (RFC 7541 §6.2.2). */
function literal(name: string, value: string): number[] {
  const n = [...Buffer.from(name)];
  const v = [...Buffer.from(value)];
  if (n.length > 126 || v.length > 126) throw new Error("header too long for a one-byte length");
  return [0x00, n.length, ...n, v.length, ...v];
}

function requestBytes(path: string): Uint8Array {
  const block = new Uint8Array([
    0x83, // :method POST (static index 3)
    0x86, // :scheme http (static index 6)
    0x04, // :path, name from static index 4, literal value without indexing
    path.length,
    ...Buffer.from(path),
    0x01, // :authority, name from static index 1
    9,
    ...Buffer.from("localhost"),
    ...literal("content-type", "application/grpc"),
    ...literal("te", "trailers"),
  ]);
  const preface = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
  const parts = [
    preface,
    frame(FrameType.Settings, 0, 0, new Uint8Array(0)),
    frame(FrameType.Headers, END_HEADERS, 1, block),
    frame(FrameType.Data, END_STREAM, 1, new Uint8Array(5)), // gRPC prefix + empty message
  ];
  return Buffer.concat(parts);
}

const versionRequest = requestBytes(VERSION_PATH);
const settingsAck = frame(FrameType.Settings, ACK, 0, new Uint8Array(0));

/** Field 1 (string) of a protobuf message, or undefined. Enough for VersionResponse. */
function firstStringField(msg: Uint8Array): string | undefined {
  if (msg[0] !== 0x0a) return undefined;
  let len = 0;
  let shift = 0;
  let i = 1;
  for (; i < msg.length; i++) {
    len |= (msg[i]! & 0x7f) << shift;
    shift += 7;
    if (!(msg[i]! & 0x80)) break;
  }
  const start = i + 1;
  if (start + len > msg.length) return undefined;
  return Buffer.from(msg.subarray(start, start + len)).toString("utf8");
}

/** Issues one Version call on a fresh connection. Resolves with the daemon's version string,
 *  or undefined if the socket refused, the call failed, or `timeoutMs` passed. Never throws. */
export function probeVersion(socketPath: string, timeoutMs = 2000): Promise<string | undefined> {
  const { promise, resolve } = Promise.withResolvers<string | undefined>();
  let buf: Uint8Array = new Uint8Array(0);
  let message: Uint8Array = new Uint8Array(0);
  let gotHeaders = false;
  let done = false;
  const finish = (s: Bun.Socket | undefined, v: string | undefined) => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    s?.terminate();
    resolve(v);
  };
  const timer = setTimeout(() => finish(sock, undefined), timeoutMs);
  let sock: Bun.Socket | undefined;
  const onFrame = (s: Bun.Socket, type: number, flags: number, stream: number, payload: Uint8Array) => {
    if (type === FrameType.Settings && stream === 0 && !(flags & ACK)) s.write(settingsAck);
    else if (type === FrameType.GoAway || (type === FrameType.RstStream && stream === 1))
      finish(s, undefined);
    else if (stream !== 1) return;
    else if (type === FrameType.Headers) {
      if (!gotHeaders && !(flags & END_STREAM)) gotHeaders = true;
      else if (flags & END_STREAM) {
        // Trailers (or a trailers-only error): success only if a whole reply message came first.
        const len = message.length >= 5 ? new DataView(message.buffer, message.byteOffset).getUint32(1) : -1;
        const version =
          len >= 0 && message.length === 5 + len ? firstStringField(message.subarray(5)) : undefined;
        finish(s, version || undefined);
      }
    } else if (type === FrameType.Data) {
      let body = payload;
      if (flags & PADDED) body = payload.subarray(1, payload.length - payload[0]!);
      message = Buffer.concat([message, body]);
    }
  };
  // Not awaited: the timeout resolves the probe even if a connect never settles.
  Bun.connect({
    unix: socketPath,
    socket: {
      open(s) {
        sock = s;
        if (done) s.terminate();
        // Bun's socket.write does not buffer (BUN-NOTES): ~150 bytes on a fresh socket go at once.
        else if (s.write(versionRequest) !== versionRequest.length) finish(s, undefined);
      },
      data(s, chunk) {
        buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
        while (buf.length >= 9) {
          const len = (buf[0]! << 16) | (buf[1]! << 8) | buf[2]!;
          if (buf.length < 9 + len) break;
          const stream = new DataView(buf.buffer, buf.byteOffset).getUint32(5) & 0x7fffffff;
          onFrame(s, buf[3]!, buf[4]!, stream, buf.subarray(9, 9 + len));
          buf = buf.subarray(9 + len);
        }
      },
      close(s) {
        finish(s, undefined);
      },
      error(s) {
        finish(s, undefined);
      },
      connectError() {
        finish(undefined, undefined);
      },
    },
  }).catch(() => finish(undefined, undefined)); // ENOENT / ECONNREFUSED: not listening yet
  return promise;
}
