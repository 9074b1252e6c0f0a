/** Digests as go-digest v1.0.0 parses them (containerd 1.6's `digest.Validate`), with its
 *  messages (checked against the Go `ctr`, which validates a digest before dialing). A digest that passes names a file below `blobs/<algorithm>/`: the algorithm is one
 *  of three fixed names and the encoded part is lowercase hex, so no `/`, `..` or NUL can reach
 *  a path. */
import { DIGEST_HEX_LENGTH, type DigestAlgorithm, digestProblem, invalidArgument } from "@bunkerd/plugin-api";

const HEX_LENGTH = DIGEST_HEX_LENGTH;
export type Algorithm = DigestAlgorithm;
export const CANONICAL: Algorithm = "sha256";

export interface Digest {
  readonly algorithm: Algorithm;
  readonly encoded: string;
  /** `algorithm:encoded`, the digest's one spelling. */
  readonly text: string;
}

export { digestProblem };

/** Parses `s` or throws InvalidArgument `<context>: <go-digest reason>: invalid argument`. */
export function parseDigest(s: string, context = "cannot calculate blob path from invalid digest"): Digest {
  const problem = digestProblem(s);
  if (problem) throw invalidArgument(`${context}: ${problem}`);
  const i = s.indexOf(":");
  return { algorithm: s.slice(0, i) as Algorithm, encoded: s.slice(i + 1), text: s };
}

export const isAlgorithm = (name: string): name is Algorithm => Object.hasOwn(HEX_LENGTH, name);

/** `sha256:<hex>` of a finished hasher. */
export const sha256Text = (hex: string) => `${CANONICAL}:${hex}`;

/** sha256 of a string as hex: how an ingest directory is named after its ref. */
export const sha256Hex = (s: string) => new Bun.CryptoHasher("sha256").update(s).digest("hex");
