/** Digests as go-digest v1.0.0 validates them (containerd 1.6's `digest.Validate`), with its
 *  messages: one check for every service that takes a digest (content store, images, leases). */

/** The algorithms go-digest knows, with their hex lengths. */
export const DIGEST_HEX_LENGTH = { sha256: 64, sha384: 96, sha512: 128 } as const;
export type DigestAlgorithm = keyof typeof DIGEST_HEX_LENGTH;

// go-digest's DigestRegexpAnchored, for digests whose algorithm it does not know.
const DIGEST_SHAPE = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;
const LOWER_HEX = /^[a-f0-9]+$/;

export const INVALID_DIGEST_FORMAT = "invalid checksum digest format";
export const INVALID_DIGEST_LENGTH = "invalid checksum digest length";
export const UNSUPPORTED_DIGEST = "unsupported digest algorithm";

/** The reason go-digest gives for refusing `s`, or undefined when it is a valid digest. */
export function digestProblem(s: string): string | undefined {
  const i = s.indexOf(":");
  if (i <= 0 || i + 1 === s.length) return INVALID_DIGEST_FORMAT;
  const algorithm = s.slice(0, i);
  const encoded = s.slice(i + 1);
  if (!Object.hasOwn(DIGEST_HEX_LENGTH, algorithm)) {
    return DIGEST_SHAPE.test(s) ? UNSUPPORTED_DIGEST : INVALID_DIGEST_FORMAT;
  }
  // Length first, then the characters: the Go `ctr content get sha256:ABC` says "length".
  if (encoded.length !== DIGEST_HEX_LENGTH[algorithm as DigestAlgorithm]) return INVALID_DIGEST_LENGTH;
  return LOWER_HEX.test(encoded) ? undefined : INVALID_DIGEST_FORMAT;
}
