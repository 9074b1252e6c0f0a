/** A header block we cannot decode: the connection ends with COMPRESSION_ERROR (RFC 7540 4.3). */
export class HpackError extends Error {
  override readonly name = "HpackError";
}
