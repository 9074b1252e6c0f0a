/** HPACK (RFC 7541): header compression for HTTP/2. */
export { HpackDecoder } from "./decoder.ts";
export { HpackEncoder, writeInteger } from "./encoder.ts";
export { HpackError } from "./errors.ts";
export { huffmanDecode, huffmanEncode, huffmanLength } from "./huffman.ts";
