/** Apply throughput against GNU tar, on a synthetic layer (default ~200 MB, ~30k entries):
 *  `bun apps/daemon/src/plugins/differ/testdata/throughput.ts [--dir D] [--runs N] [--mb M]`.
 *  Each run extracts into a fresh directory on the filesystem of D (default: /dev/shm and the
 *  system temp dir); cleanup is untimed. Ours runs in this process, as in the daemon; GNU tar
 *  is exec'd (its ~1 ms start is in its numbers). Prints medians; asserts nothing. */
import { existsSync, mkdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { applyTar } from "../apply.ts";
import { openLayer } from "../decompress.ts";
import { run } from "./helpers.ts";

const { values } = parseArgs({
  options: {
    dir: { type: "string", multiple: true },
    runs: { type: "string", default: "5" },
    mb: { type: "string", default: "200" },
    files: { type: "string", default: "28000" },
  },
});
const runs = Number(values.runs);
const dirs = values.dir ?? ["/dev/shm", tmpdir()].filter((d) => existsSync(d));

const GEN = `
import os, random, sys
root, total, files = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
random.seed(1)
dirs = []
for i in range(60):
    for j in range(25):
        d = f"{root}/d{i}/s{j}"; os.makedirs(d, exist_ok=True); dirs.append(d)
sizes = []
for k in range(files):
    r = random.random()
    sizes.append(random.randint(0, 4096) if r < .6 else random.randint(4096, 32768) if r < .9 else
                 random.randint(32768, 200000) if r < .995 else random.randint(1_000_000, 6_000_000))
scale = total / sum(sizes)
rnd = os.urandom(1 << 20)
text = b"the quick brown fox jumps over the lazy dog 0123456789\\n" * 20000
for k, s in enumerate(sizes):
    s = int(s * scale); src = text if k % 2 else rnd
    with open(f"{dirs[k % len(dirs)]}/f{k}.bin", "wb") as f:
        while s > 0:
            c = min(s, len(src)); f.write(src[:c]); s -= c
    if k % 7 == 0: os.symlink(f"f{k}.bin", f"{dirs[k % len(dirs)]}/l{k}")
`;

function layer(work: string): Record<string, string> {
  const src = join(work, "src");
  const tar = join(work, "layer.tar");
  if (!existsSync(tar)) {
    rmSync(src, { recursive: true, force: true });
    run(["python3", "-c", GEN, src, String(Number(values.mb) * 1e6), values.files!]);
    run(["tar", "--numeric-owner", "-C", src, "-cf", tar, "."]);
    run(["sh", "-c", `gzip -6 -k -f ${tar} && zstd -q -3 -f ${tar}`]);
    rmSync(src, { recursive: true, force: true });
  }
  return { tar, "tar.gz": `${tar}.gz`, "tar.zst": `${tar}.zst` };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const work = join(tmpdir(), "bunkerd-differ-throughput");
mkdirSync(work, { recursive: true });
const blobs = layer(work);
const size = statSync(blobs.tar!).size;
const entries = run(["tar", "-tf", blobs.tar!]).toString().split("\n").length - 1;
console.log(`layer: ${(size / 1e6).toFixed(0)} MB uncompressed, ${entries} entries`);

for (const dir of dirs) {
  for (const [fmt, blob] of Object.entries(blobs)) {
    const gnu: number[] = [];
    const ours: number[] = [];
    for (let i = 0; i < runs; i++) {
      for (const who of ["gnu", "ours"] as const) {
        const out = join(dir, `bunkerd-throughput-${who}`);
        rmSync(out, { recursive: true, force: true });
        mkdirSync(out);
        run(["sync"]);
        const t = performance.now();
        if (who === "gnu") run(["tar", "--numeric-owner", "-xpf", blob, "-C", out]);
        else await applyTar(out, openLayer(blob, { declared: "unknown", reuseChunks: true }).chunks);
        (who === "gnu" ? gnu : ours).push(performance.now() - t);
        rmSync(out, { recursive: true, force: true });
      }
    }
    const g = median(gnu);
    const o = median(ours);
    console.log(
      `${dir.padEnd(10)} ${fmt.padEnd(8)} GNU tar ${g.toFixed(0).padStart(5)} ms   bunkerd ${o.toFixed(0).padStart(5)} ms   ratio ${(o / g).toFixed(2)}   (${((size / 1e6 / o) * 1000).toFixed(0)} MB/s)`,
    );
  }
}
