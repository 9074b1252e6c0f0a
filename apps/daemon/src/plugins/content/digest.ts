/** Digests as go-digest v1.0.0 parses them (containerd 1.6's `digest.Validate`), with its
 *  messages (checked against the Go `ctr`, which validates a digest before dialing). A digest that passes names a file below `blobs/<algorithm>/`: the algorithm is one
 *  of three fixed names and the encoded part is lowercase hex, so no `/`, `..` or NUL can reach
 *  a path. */
import { invalidArgument } from "@bunkerd/plugin-api";

/** The algorithms go-digest knows, with their hex lengths. containerd's binary links all three
 *  hashes, so all three validate there; content is only ever committed under sha256. */
const HEX_LENGTH = { sha256: 64, sha384: 96, sha512: 128 } as const;
export type Algorithm = keyof typeof HEX_LENGTH;
export const CANONICAL: Algorithm = "sha256";

export interface Digest {
  readonly algorithm: Algorithm;
  readonly encoded: string;
  /** `algorithm:encoded`, the digest's one spelling. */
  readonly text: string;
}

// go-digest's DigestRegexpAnchored, for digests whose algorithm it does not know.
const DIGEST_SHAPE = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;
const LOWER_HEX = /^[a-f0-9]+$/;

export const INVALID_FORMAT = "invalid checksum digest format";
export const INVALID_LENGTH = "invalid checksum digest length";
export const UNSUPPORTED = "unsupported digest algorithm";

/** The reason go-digest gives for refusing `s`, or undefined when it is a valid digest. */
export function digestProblem(s: string): string | undefined {
  const i = s.indexOf(":");
  if (i <= 0 || i + 1 === s.length) return INVALID_FORMAT;
  const algorithm = s.slice(0, i);
  const encoded = s.slice(i + 1);
  if (!Object.hasOwn(HEX_LENGTH, algorithm)) return DIGEST_SHAPE.test(s) ? UNSUPPORTED : INVALID_FORMAT;
  // Length first, then the characters: the Go `ctr content get sha256:ABC` says "length".
  if (encoded.length !== HEX_LENGTH[algorithm as Algorithm]) return INVALID_LENGTH;
  return LOWER_HEX.test(encoded) ? undefined : INVALID_FORMAT;
}

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
