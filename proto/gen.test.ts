// The committed gen/ must be exactly what `buf generate` makes from the .proto files,
// so an edited .proto without a regeneration (or a hand edit under gen/) fails here.
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";

const protoDir = import.meta.dir;
const committedDir = join(protoDir, "gen");
const scratch = mkdtempSync(join(tmpdir(), "bunkerd-proto-gen-"));

afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function listFiles(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else out.push(relative(root, path));
    }
  };
  walk(root);
  return out.sort();
}

test(
  "committed proto/gen matches a fresh buf generate",
  () => {
    // Same template (buf.gen.yaml), but every plugin's `out` lands under the scratch directory.
    const binDirs = [join(protoDir, "node_modules", ".bin"), join(protoDir, "..", "node_modules", ".bin")];
    const run = Bun.spawnSync(["buf", "generate", "-o", scratch], {
      cwd: protoDir,
      env: { ...process.env, PATH: [...binDirs, process.env.PATH ?? ""].join(":") },
      stdout: "pipe",
      stderr: "pipe",
    });
    if (run.exitCode !== 0) {
      throw new Error(`buf generate failed (${run.exitCode}):\n${run.stderr.toString()}`);
    }

    const freshDir = join(scratch, "gen");
    const committed = listFiles(committedDir);
    const fresh = listFiles(freshDir);
    const committedSet = new Set(committed);
    const freshSet = new Set(fresh);

    const problems = [
      ...fresh.filter((f) => !committedSet.has(f)).map((f) => `missing from proto/gen: ${f}`),
      ...committed.filter((f) => !freshSet.has(f)).map((f) => `stale, not generated any more: ${f}`),
      ...fresh
        .filter((f) => committedSet.has(f))
        .filter((f) => !readFileSync(join(freshDir, f)).equals(readFileSync(join(committedDir, f))))
        .map((f) => `differs from a fresh generation: ${f}`),
    ];
    if (problems.length > 0) {
      throw new Error(
        `proto/gen is out of date; run \`bun run proto:gen\` and commit the result.\n  ${problems.join("\n  ")}`,
      );
    }
    expect(fresh.length).toBeGreaterThan(0);
  },
  { timeout: 120_000 },
);
