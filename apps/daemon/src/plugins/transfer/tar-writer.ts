/** Tar headers for the archives an export writes (ustar, as Go's archive/tar writes them for
 *  short names): regular files and directories, owner 0, time 0. Sizes past ustar's 8 GiB use
 *  GNU base-256. */
import { invalidArgument } from "@bunkerd/plugin-api";

export const BLOCK = 512;
const encoder = new TextEncoder();

function octal(out: Uint8Array, at: number, width: number, value: number): void {
  const s = value.toString(8).padStart(width - 1, "0");
  if (s.length > width - 1) {
    // base-256, big endian, high bit set
    let v = BigInt(value);
    for (let i = at + width - 1; i > at; i--) {
      out[i] = Number(v & 0xffn);
      v >>= 8n;
    }
    out[at] = 0x80;
    return;
  }
  out.set(encoder.encode(s), at);
  out[at + width - 1] = 0;
}

export function header(name: string, o: { size: number; mode: number; type: "file" | "dir" }): Uint8Array {
  const bytes = encoder.encode(name);
  if (bytes.length > 100) throw invalidArgument(`tar name ${JSON.stringify(name)} is too long`);
  const h = new Uint8Array(BLOCK);
  h.set(bytes, 0);
  octal(h, 100, 8, o.mode);
  octal(h, 108, 8, 0);
  octal(h, 116, 8, 0);
  octal(h, 124, 12, o.type === "dir" ? 0 : o.size);
  octal(h, 136, 12, 0);
  h[156] = o.type === "dir" ? 0x35 : 0x30;
  h.set(encoder.encode("ustar\u000000"), 257);
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  h.set(encoder.encode(sum.toString(8).padStart(6, "0")), 148);
  h[154] = 0;
  h[155] = 0x20;
  return h;
}

/** Zeros after a body of `size` bytes, to the block boundary. */
export const padding = (size: number) => new Uint8Array((BLOCK - (size % BLOCK)) % BLOCK);

/** Two zero blocks end an archive. */
export const trailer = () => new Uint8Array(2 * BLOCK);
