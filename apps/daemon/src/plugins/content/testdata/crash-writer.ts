/** Child process for crash.test.ts: writes the deterministic pattern into an ingest until it is
 *  killed, printing the offset after each write. Usage: crash-writer.ts <root> <ref> <total> */
import { LocalStore } from "../store.ts";
import { pattern } from "./helpers.ts";

const [root, ref, totalText] = process.argv.slice(2);
const total = Number(totalText);
const store = await LocalStore.open(root!);
const w = await store.writer(ref!, { total });
const CHUNK = 256 * 1024;
for (let off = w.offset; off < total; off += CHUNK) {
  await w.write(pattern(off, Math.min(CHUNK, total - off)));
  process.stdout.write(`${w.offset}\n`);
  await Bun.sleep(2);
}
// Reaching the end means the parent failed to kill us in time; do not commit.
process.stdout.write("done\n");
await Bun.sleep(60_000);
