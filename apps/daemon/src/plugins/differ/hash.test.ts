/** The stream hash gives the same digest on a helper thread and inline, for any chunking. */
import { expect, test } from "bun:test";
import { StreamHash } from "./hash.ts";

const data = Buffer.from(crypto.getRandomValues(new Uint8Array(65536)));
const big = Buffer.concat([data, Buffer.alloc(3 * 1024 * 1024 + 3, 7), data]);
const want = `sha256:${new Bun.CryptoHasher("sha256").update(big).digest("hex")}`;

test.each([true, false])("helper thread %p: same digest, chunks reusable at once", async (helper) => {
  const h = new StreamHash({ helper });
  const scratch = Buffer.alloc(300000);
  for (let off = 0; off < big.length; off += scratch.length) {
    const n = big.copy(scratch, 0, off, off + scratch.length);
    h.update(scratch.subarray(0, n));
    scratch.fill(0xee); // the hash must have taken its copy already
    await h.drained();
  }
  expect(await h.digest()).toBe(want);
});

test("concurrent streams on one helper keep their own state", async () => {
  const a = new StreamHash({ helper: true });
  const b = new StreamHash({ helper: true });
  a.update(big);
  b.update(data);
  a.abort();
  const c = new StreamHash({ helper: true });
  c.update(big);
  expect(await b.digest()).toBe(`sha256:${new Bun.CryptoHasher("sha256").update(data).digest("hex")}`);
  expect(await c.digest()).toBe(want);
});
