/** Checks bytes against a descriptor while they stream: the running size stops a stream the
 *  moment it passes the expected size, and at the end both the size and the digest must match.
 *  Nothing unverified is reported as complete. */

import { failedPrecondition } from "@bunkerd/plugin-api";
import { hasherFor } from "./digest.ts";

export type Expected = { digest: string; size: number };

export class Verifier {
  private readonly hasher;
  private received = 0;

  constructor(readonly expected: Expected) {
    this.hasher = hasherFor(expected.digest);
  }

  get offset(): number {
    return this.received;
  }

  /** Adds a chunk; throws before taking it if it would exceed the expected size. */
  update(chunk: Uint8Array): void {
    if (this.received + chunk.byteLength > this.expected.size) {
      throw failedPrecondition(
        `content ${this.expected.digest}: more than the expected ${this.expected.size} bytes (${this.received + chunk.byteLength} so far)`,
      );
    }
    this.hasher.update(chunk);
    this.received += chunk.byteLength;
  }

  /** Throws unless exactly the expected bytes went through; returns the digest. */
  finish(): string {
    if (this.received !== this.expected.size) {
      throw failedPrecondition(
        `content ${this.expected.digest}: got ${this.received} bytes, expected ${this.expected.size}`,
      );
    }
    const actual = this.hasher.digest();
    if (actual !== this.expected.digest) {
      throw failedPrecondition(`content digest mismatch: got ${actual}, expected ${this.expected.digest}`);
    }
    return actual;
  }
}

/** Passes `source` through, verified: throws at the end on a digest or size mismatch, and
 *  early when the stream runs past the expected size. */
export async function* verified(
  source: AsyncIterable<Uint8Array>,
  expected: Expected,
): AsyncGenerator<Uint8Array> {
  const v = new Verifier(expected);
  for await (const chunk of source) {
    v.update(chunk);
    yield chunk;
  }
  v.finish();
}

/** Reads a whole verified stream into one buffer of the expected size. */
export async function collect(source: AsyncIterable<Uint8Array>, size: number): Promise<Uint8Array> {
  const out = new Uint8Array(size);
  let at = 0;
  for await (const chunk of source) {
    if (at + chunk.byteLength > size) throw failedPrecondition(`more than the expected ${size} bytes`);
    out.set(chunk, at);
    at += chunk.byteLength;
  }
  return at === size ? out : out.subarray(0, at);
}
