/** HPACK's Huffman code (RFC 7541 Appendix B). The code is canonical (codes of one length
 *  are consecutive, in symbol order), so the 257 code lengths define it; the codes are
 *  rebuilt from them at load. Decoding walks a 4-bit state machine (one table lookup per
 *  nibble), built once from the same code. */
import { HpackError } from "./errors.ts";

// Bit lengths of the codes for bytes 0..255 and EOS (256), from Appendix B.
// biome-ignore format: a table
const codeLengths = [
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28,
  6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, 5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10,
  13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6,
  15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5, 6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28,
  20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23, 24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24,
  22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, 21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23,
  26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, 19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27,
  20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23, 26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26,
  30,
];

const EOS = 256;

/** Code bit lengths and codes (right-aligned), indexed by symbol. */
export const huffmanLengths: readonly number[] = codeLengths;
export const huffmanCodes: readonly number[] = (() => {
  const codes = new Array<number>(codeLengths.length);
  const order = codeLengths.map((_, sym) => sym).sort((a, b) => codeLengths[a]! - codeLengths[b]! || a - b);
  let code = 0;
  let length = codeLengths[order[0]!]!;
  for (const sym of order) {
    const n = codeLengths[sym]!;
    code *= 2 ** (n - length); // codes reach 30 bits: multiply, do not shift into the sign bit
    length = n;
    codes[sym] = code;
    code++;
  }
  return codes;
})();

// The decoder's state machine. A state is an inner node of the code tree; for each state and
// input nibble, one Uint16 says: the next state (bits 0-7), the symbol completed on the way
// (bits 8-15, with EMIT), or FAIL when the nibble walks into EOS.
const EMIT = 1 << 16;
const FAIL = 1 << 17;
const { transitions, accepting } = (() => {
  // Build the tree: node 0 is the root; children[2n], children[2n+1]; a negative child is
  // the leaf -(sym + 1).
  const children: number[] = [0, 0];
  let nodes = 1;
  codeLengths.forEach((len, sym) => {
    const code = huffmanCodes[sym]!;
    let node = 0;
    for (let bit = len - 1; bit >= 0; bit--) {
      const b = Math.floor(code / 2 ** bit) & 1;
      const slot = 2 * node + b;
      if (bit === 0) {
        children[slot] = -(sym + 1);
      } else {
        if (children[slot] === 0) {
          children[slot] = nodes++;
          children.push(0, 0);
        }
        node = children[slot]!;
      }
    }
  });
  // Padding may end a string: up to 7 bits, all ones (the start of EOS). Those states are
  // the root and the first seven nodes down the all-ones path.
  const accepting = new Uint8Array(nodes);
  for (let node = 0, depth = 0; depth < 8; depth++) {
    accepting[node] = 1;
    node = children[2 * node + 1]!;
  }
  const transitions = new Uint32Array(nodes * 16);
  for (let state = 0; state < nodes; state++) {
    for (let nibble = 0; nibble < 16; nibble++) {
      let node = state;
      let out = 0;
      for (let bit = 3; bit >= 0; bit--) {
        const child = children[2 * node + ((nibble >> bit) & 1)]!;
        if (child < 0) {
          const sym = -child - 1;
          if (sym === EOS) {
            out = FAIL;
            break;
          }
          out = EMIT | (sym << 8); // at most one symbol per nibble: codes are 5 bits or more
          node = 0;
        } else {
          node = child;
        }
      }
      transitions[state * 16 + nibble] = out === FAIL ? FAIL : out | node;
    }
  }
  return { transitions, accepting };
})();

let scratch = Buffer.allocUnsafe(256);

/** Decodes the Huffman string in bytes [start, end) to a latin1 string. */
export function huffmanDecode(src: Uint8Array, start: number, end: number): string {
  // The shortest code is 5 bits, so n bytes hold at most 8n/5 symbols.
  const max = Math.ceil(((end - start) * 8) / 5);
  if (scratch.length < max) scratch = Buffer.allocUnsafe(Math.max(max, scratch.length * 2));
  const out = scratch;
  let n = 0;
  let state = 0;
  for (let i = start; i < end; i++) {
    const b = src[i]!;
    let t = transitions[(state << 4) | (b >> 4)]!;
    if (t & FAIL) throw new HpackError("huffman: EOS in string");
    if (t & EMIT) out[n++] = (t >> 8) & 0xff;
    state = t & 0xff;
    t = transitions[(state << 4) | (b & 15)]!;
    if (t & FAIL) throw new HpackError("huffman: EOS in string");
    if (t & EMIT) out[n++] = (t >> 8) & 0xff;
    state = t & 0xff;
  }
  if (!accepting[state]) throw new HpackError("huffman: invalid padding");
  return latin1(out, 0, n);
}

/** The encoded length in bytes of `s` (latin1). */
export function huffmanLength(s: string): number {
  let bits = 0;
  for (let i = 0; i < s.length; i++) bits += codeLengths[s.charCodeAt(i) & 0xff]!;
  return Math.ceil(bits / 8);
}

/** Writes the Huffman code of `s` (latin1) at `dst[at]`; returns the end offset. */
export function huffmanEncode(s: string, dst: Uint8Array, at: number): number {
  let acc = 0; // pending bits, right-aligned; fewer than 8 between symbols
  let bits = 0;
  for (let i = 0; i < s.length; i++) {
    const sym = s.charCodeAt(i) & 0xff;
    const len = codeLengths[sym]!;
    acc = acc * 2 ** len + huffmanCodes[sym]!; // up to 7 + 30 bits: exact in a double
    bits += len;
    while (bits >= 8) {
      bits -= 8;
      const p = 2 ** bits;
      dst[at++] = Math.floor(acc / p) & 0xff;
      acc %= p;
    }
  }
  if (bits > 0) dst[at++] = ((acc << (8 - bits)) | (0xff >> bits)) & 0xff; // pad with EOS's ones
  return at;
}

/** Bytes [start, end) as a latin1 string (HTTP/2 field bytes map one to one to chars).
 *  Buffer's latin1Slice is the fastest way in Bun (a char-by-char concat is ~10× slower). */
export function latin1(src: Uint8Array, start: number, end: number): string {
  const b = Buffer.isBuffer(src) ? src : Buffer.from(src.buffer, src.byteOffset, src.byteLength);
  return (b as Latin1Sliceable).latin1Slice(start, end);
}

/** Node's (and Bun's) undocumented, untyped Buffer method behind toString("latin1"). */
type Latin1Sliceable = Buffer & { latin1Slice(start: number, end: number): string };
