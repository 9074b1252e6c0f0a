/** gRPC status on the wire: every failure becomes one code and message here, and the message
 *  is percent-encoded as the gRPC HTTP/2 spec asks for `grpc-message`. */
import { type Code, toBunkerError } from "@bunkerd/plugin-api";

export interface Status {
  readonly code: Code;
  readonly message: string;
}

/** The one mapping from a thrown value to a status: BunkerError keeps its code and message,
 *  anything else goes through toBunkerError (errno → kind, AbortError → Canceled). */
export function statusOf(error: unknown): Status {
  const e = toBunkerError(error);
  return { code: e.code, message: e.message };
}

const hex = "0123456789ABCDEF";

/** Percent-encodes bytes outside printable ASCII, and '%' itself (gRPC PROTOCOL-HTTP2). */
export function encodeGrpcMessage(message: string): string {
  let plain = true;
  for (let i = 0; i < message.length; i++) {
    const c = message.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x25) {
      plain = false;
      break;
    }
  }
  if (plain) return message;
  let out = "";
  for (const b of Buffer.from(message, "utf8")) {
    out += b < 0x20 || b > 0x7e || b === 0x25 ? `%${hex[b >> 4]}${hex[b & 15]}` : String.fromCharCode(b);
  }
  return out;
}

/** The inverse, for tests and clients; malformed escapes are kept as they are. */
export function decodeGrpcMessage(value: string): string {
  if (!value.includes("%")) return value;
  const bytes: number[] = [];
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0x25 && /^[0-9A-Fa-f]{2}$/.test(value.slice(i + 1, i + 3))) {
      bytes.push(Number.parseInt(value.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      bytes.push(c);
    }
  }
  return Buffer.from(bytes).toString("utf8");
}
