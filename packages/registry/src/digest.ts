/** Content digests (`<algorithm>:<hex>`), validated as go-digest does: only the algorithms
 *  containerd can verify (sha256, sha384, sha512), lowercase hex of the exact length. */

import { invalidArgument } from "@bunkerd/plugin-api";

const hexLength = { sha256: 64, sha384: 96, sha512: 128 } as const;
export type DigestAlgorithm = keyof typeof hexLength;

/** Parses a digest string, or throws InvalidArgument naming what is wrong with it. */
export function validateDigest(value: string, field = "digest"): string {
  const i = value.indexOf(":");
  if (i <= 0 || i === value.length - 1)
    throw invalidArgument(`${field} ${JSON.stringify(value)}: invalid digest format`);
  const algorithm = value.slice(0, i);
  const hex = value.slice(i + 1);
  if (!/^[a-z0-9]+(?:[.+_-][a-z0-9]+)*$/.test(algorithm)) {
    throw invalidArgument(`${field} ${JSON.stringify(value)}: invalid digest format`);
  }
  const want = hexLength[algorithm as DigestAlgorithm];
  if (want === undefined)
    throw invalidArgument(`${field} ${JSON.stringify(value)}: unsupported digest algorithm`);
  if (hex.length !== want || !/^[a-f0-9]+$/.test(hex)) {
    throw invalidArgument(`${field} ${JSON.stringify(value)}: invalid checksum digest format`);
  }
  return value;
}

export const isDigest = (value: string): boolean => {
  try {
    validateDigest(value);
    return true;
  } catch {
    return false;
  }
};

export const digestAlgorithm = (digest: string): DigestAlgorithm =>
  validateDigest(digest).slice(0, digest.indexOf(":")) as DigestAlgorithm;

/** An incremental hasher for the algorithm of `expected` (sha256 when none is given). */
export function hasherFor(expected?: string): { update(chunk: Uint8Array): void; digest(): string } {
  const algorithm = expected ? digestAlgorithm(expected) : "sha256";
  const h = new Bun.CryptoHasher(algorithm);
  return {
    update: (chunk) => {
      h.update(chunk);
    },
    digest: () => `${algorithm}:${h.digest("hex")}`,
  };
}

export function digestOf(bytes: Uint8Array | string, algorithm: DigestAlgorithm = "sha256"): string {
  return `${algorithm}:${new Bun.CryptoHasher(algorithm).update(bytes).digest("hex")}`;
}
