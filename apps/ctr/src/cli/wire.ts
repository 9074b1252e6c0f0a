/** Protobuf wire format by hand, for the few replies the fast paths decode without loading the
 *  generated schemas (building protobuf-es's descriptor registry costs a short command several
 *  ms): fields as they come, strings, nested messages, and request encoding of strings. */

export interface WireField {
  field: number;
  /** varint value (wire type 0) */
  int?: number;
  /** length-delimited bytes (wire type 2) */
  bytes?: Uint8Array;
}

/** Every field of `msg`, in order. Fixed-width fields are skipped. Throws on malformed input. */
export function readFields(msg: Uint8Array): WireField[] {
  const out: WireField[] = [];
  let i = 0;
  const varint = () => {
    let v = 0;
    let mul = 1;
    for (;;) {
      if (i >= msg.length) throw new Error("truncated varint");
      const b = msg[i++]!;
      v += (b & 0x7f) * mul;
      if (!(b & 0x80)) return v;
      mul *= 128;
    }
  };
  while (i < msg.length) {
    const key = varint();
    const wire = key & 7;
    const field = Math.floor(key / 8);
    if (wire === 0) out.push({ field, int: varint() });
    else if (wire === 1) i += 8;
    else if (wire === 5) i += 4;
    else if (wire === 2) {
      const len = varint();
      if (i + len > msg.length) throw new Error("truncated field");
      out.push({ field, bytes: msg.subarray(i, i + len) });
      i += len;
    } else throw new Error(`unsupported wire type ${wire}`);
  }
  return out;
}

const decoder = new TextDecoder();
export const text = (f: WireField) => (f.bytes ? decoder.decode(f.bytes) : "");

/** The last value of each string field by number (proto3 singular semantics). */
export function stringFields(msg: Uint8Array): Map<number, string> {
  const out = new Map<number, string>();
  for (const f of readFields(msg)) if (f.bytes) out.set(f.field, text(f));
  return out;
}

/** A message of repeated string fields (e.g. `filters = 1`). */
export function encodeStrings(field: number, values: string[]): Uint8Array {
  const enc = new TextEncoder();
  const out: number[] = [];
  const varint = (n: number) => {
    while (n >= 0x80) {
      out.push((n & 0x7f) | 0x80);
      n >>>= 7;
    }
    out.push(n);
  };
  for (const v of values) {
    const b = enc.encode(v);
    varint((field << 3) | 2);
    varint(b.length);
    for (const x of b) out.push(x);
  }
  return new Uint8Array(out);
}
