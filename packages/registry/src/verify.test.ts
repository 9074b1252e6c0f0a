import { expect, test } from "bun:test";
import { Kind } from "@bunkerd/plugin-api";
import { digestOf } from "./digest.ts";
import { collect, verified } from "./verify.ts";

const bytes = new TextEncoder().encode("hello, registry");
async function* chunks(...parts: Uint8Array[]) {
  for (const p of parts) yield p;
}

test("good bytes pass through unchanged", async () => {
  const out = await collect(
    verified(chunks(bytes.subarray(0, 5), bytes.subarray(5)), {
      digest: digestOf(bytes),
      size: bytes.length,
    }),
    bytes.length,
  );
  expect(out).toEqual(bytes);
});

test("a digest mismatch throws at the end, naming both digests", async () => {
  const wrong = digestOf("something else");
  const seen: Uint8Array[] = [];
  let err: unknown;
  try {
    for await (const c of verified(chunks(bytes), { digest: wrong, size: bytes.length })) seen.push(c);
  } catch (e) {
    err = e;
  }
  expect(seen).toHaveLength(1);
  expect(err).toMatchObject({ kind: Kind.FailedPrecondition });
  expect(String(err)).toContain(wrong);
  expect(String(err)).toContain(digestOf(bytes));
});

test("an oversize stream stops before the chunk that overflows", async () => {
  const seen: Uint8Array[] = [];
  const run = async () => {
    for await (const c of verified(chunks(bytes.subarray(0, 4), bytes.subarray(4)), {
      digest: digestOf(bytes),
      size: 6,
    })) {
      seen.push(c);
    }
  };
  await expect(run()).rejects.toThrow("more than the expected 6 bytes");
  expect(seen).toHaveLength(1);
});

test("a short stream fails on size", async () => {
  await expect(
    collect(
      verified(chunks(bytes.subarray(0, 3)), { digest: digestOf(bytes), size: bytes.length }),
      bytes.length,
    ),
  ).rejects.toThrow(`got 3 bytes, expected ${bytes.length}`);
});

test("sha512 descriptors are verified with sha512", async () => {
  const d = digestOf(bytes, "sha512");
  expect(await collect(verified(chunks(bytes), { digest: d, size: bytes.length }), bytes.length)).toEqual(
    bytes,
  );
});
