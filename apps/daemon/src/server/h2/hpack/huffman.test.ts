import { expect, test } from "bun:test";
import { huffmanCodes, huffmanDecode, huffmanEncode, huffmanLength, huffmanLengths } from "./huffman.ts";

const encode = (s: string) => {
  const out = new Uint8Array(huffmanLength(s));
  expect(huffmanEncode(s, out, 0)).toBe(out.length);
  return out;
};
const decode = (b: Uint8Array) => huffmanDecode(b, 0, b.length);

test("the rebuilt code matches Appendix B where it is easy to check by eye", () => {
  expect([huffmanCodes[0], huffmanLengths[0]]).toEqual([0x1ff8, 13]);
  expect([huffmanCodes[48], huffmanLengths[48]]).toEqual([0x0, 5]); // '0'
  expect([huffmanCodes[97], huffmanLengths[97]]).toEqual([0x3, 5]); // 'a'
  expect([huffmanCodes[255], huffmanLengths[255]]).toEqual([0x3ffffee, 26]);
  expect([huffmanCodes[256], huffmanLengths[256]]).toEqual([0x3fffffff, 30]); // EOS
  // A complete prefix code: the Kraft sum is exactly 1.
  expect(huffmanLengths.reduce((s, n) => s + 2 ** -n, 0)).toBe(1);
});

test("every byte value round-trips, alone and in a run", () => {
  const all = Array.from({ length: 256 }, (_, i) => String.fromCharCode(i)).join("");
  expect(decode(encode(all))).toBe(all);
  for (let i = 0; i < 256; i++) {
    const s = String.fromCharCode(i).repeat((i % 7) + 1);
    expect(decode(encode(s))).toBe(s);
  }
  expect(decode(new Uint8Array())).toBe("");
});

test("RFC 7541 C.4 and C.6 strings", () => {
  const cases: [string, string][] = [
    ["f1e3 c2e5 f23a 6ba0 ab90 f4ff", "www.example.com"],
    ["a8eb 1064 9cbf", "no-cache"],
    ["25a8 49e9 5bb8 e8b4 bf", "custom-value"],
    ["6402", "302"],
    ["aec3 771a 4b", "private"],
    ["9d29 ad17 1863 c78f 0b97 c8e9 ae82 ae43 d3", "https://www.example.com"],
  ];
  for (const [h, s] of cases) {
    const bytes = Uint8Array.from(Buffer.from(h.replace(/ /g, ""), "hex"));
    expect(decode(bytes)).toBe(s);
    expect(encode(s)).toEqual(bytes);
  }
});
