/** Scenario `cli`: bctr against Go ctr 1.6, command by command, the wall time of the whole
 *  process (spawn → exit: start-up, connection, calls, output). Each daemon (bunkerd compiled,
 *  then containerd 1.6) runs alone, once, with `--images` images created before timing; on each
 *  the two clients alternate, bctr then ctr, `--runs` times per command after one untimed
 *  warm-up each. Cells: median (min – max); the ratio is bctr/ctr of the medians.
 *  bctr is compiled as scripts/setup compiles it (--splitting, --bytecode), once per run. */
import { cpus, loadavg } from "node:os";
import { parseArgs } from "node:util";
import { REPO } from "../test/harness/daemon.ts";
import { compiledBctr, createImages, NO_GC } from "./lib/cli-setup.ts";
import { fmt, markdownTable, type Summary, summarize } from "./lib/stats.ts";
import { bunkerd, containerd, type Running, type Target } from "./lib/targets.ts";

export const usage = `bun bench/run.ts cli [options]
  --runs N      timed runs per client, command and daemon (default 20)
  --images N    images in the daemon before timing (default 100)
  --source      run bunkerd and bctr from source (bin/bunkerd, bin/bctr) instead of compiling
  --bctr PATH   time this bctr binary instead of compiling the tree
  --only L      comma-separated commands: version,images,plugins (default all)`;

const NAMESPACE = "bench";
const COMMANDS = {
  version: ["version"],
  images: ["images", "ls"],
  plugins: ["plugins", "ls"],
} as const;
type CommandName = keyof typeof COMMANDS;

interface Options {
  runs: number;
  images: number;
  source: boolean;
  bctr?: string;
  only: CommandName[];
}

function options(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      runs: { type: "string", default: "20" },
      images: { type: "string", default: "100" },
      source: { type: "boolean", default: false },
      bctr: { type: "string" },
      only: { type: "string", default: Object.keys(COMMANDS).join(",") },
    },
  });
  const only = values.only.split(",").map((s) => s.trim()) as CommandName[];
  for (const c of only) if (!(c in COMMANDS)) throw new Error(`--only: unknown command "${c}"`);
  return {
    runs: Number(values.runs),
    images: Number(values.images),
    source: values.source,
    bctr: values.bctr,
    only,
  };
}

/** One process, spawn → exit, output discarded; fails the run on a non-zero exit. */
async function timed(argv: string[]): Promise<{ ms: number; stdout: string }> {
  const t0 = performance.now();
  const p = Bun.spawn(argv, { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const [code, stdout, stderr] = await Promise.all([
    p.exited,
    new Response(p.stdout).text(),
    new Response(p.stderr).text(),
  ]);
  const ms = performance.now() - t0;
  if (code !== 0) throw new Error(`${argv.join(" ")} exited ${code}: ${stderr.trim()}`);
  return { ms, stdout };
}

interface Row {
  daemon: string;
  command: CommandName;
  bctr: Summary;
  ctr: Summary;
}

async function measure(up: Running, daemonName: string, bctr: string, o: Options): Promise<Row[]> {
  const rows: Row[] = [];
  for (const name of o.only) {
    const args = ["--address", up.address, "--namespace", NAMESPACE, ...COMMANDS[name]];
    // Untimed warm-up (page cache), and a check that both list the same number of images.
    const [b, c] = [await timed([bctr, ...args]), await timed(["ctr", ...args])];
    if (name === "images") {
      const count = (s: string) => s.trim().split("\n").length - 1;
      if (count(b.stdout) !== o.images || count(c.stdout) !== o.images)
        throw new Error(
          `images ls: bctr listed ${count(b.stdout)}, ctr ${count(c.stdout)}, made ${o.images}`,
        );
    }
    const times = { bctr: [] as number[], ctr: [] as number[] };
    for (let i = 0; i < o.runs; i++) {
      times.bctr.push((await timed([bctr, ...args])).ms);
      times.ctr.push((await timed(["ctr", ...args])).ms);
    }
    rows.push({ daemon: daemonName, command: name, bctr: summarize(times.bctr), ctr: summarize(times.ctr) });
    console.error(
      `[cli] ${daemonName} ${name}: bctr ${fmt(rows.at(-1)!.bctr.median)} ms, ctr ${fmt(rows.at(-1)!.ctr.median)} ms`,
    );
  }
  return rows;
}

const cell = (s: Summary) => `${fmt(s.median)} (${fmt(s.min)} – ${fmt(s.max)})`;

export default async function run(argv: string[]): Promise<void> {
  const o = options(argv);
  const load0 = loadavg();
  const bctr = o.bctr ?? (o.source ? `${REPO}/bin/bctr` : compiledBctr());
  const targets: Target[] = [
    bunkerd({ source: o.source, extraConfig: NO_GC }),
    containerd({ extraConfig: NO_GC }),
  ];
  const rows: Row[] = [];
  const versions: string[] = [];
  for (const t of targets) {
    console.error(`[cli] starting ${t.name}`);
    const up = await t.start();
    try {
      versions.push(`- ${t.name} ${up.version}: ${t.description}`);
      if (o.only.includes("images")) await createImages(up, NAMESPACE, o.images);
      rows.push(...(await measure(up, t.name, bctr, o)));
    } finally {
      await t.stop();
    }
  }
  const label: Record<CommandName, string> = {
    version: "version",
    images: `images ls (${o.images} images)`,
    plugins: "plugins ls",
  };
  const ctrVersion = Bun.spawnSync(["ctr", "--version"]).stdout.toString().trim();
  const load1 = loadavg();
  const avg = (l: number[]) => l.map((x) => x.toFixed(2)).join(" / ");
  console.log(
    [
      `machine: ${cpus().length} CPUs (${cpus()[0]?.model ?? "?"}); bun ${Bun.version}; ${ctrVersion}`,
      `load average (1/5/15 min) before: ${avg(load0)}, after: ${avg(load1)}`,
      `bctr: ${o.bctr ?? (o.source ? "bin/bctr (from source)" : "compiled with bun build --compile --minify --format=esm --bytecode --splitting")}`,
      "daemons (one at a time, fresh temp root, collector off):",
      ...versions,
      `wall ms, spawn → exit, output read through a pipe; ${o.runs} runs per client after one warm-up, bctr and ctr alternating. Cells: median (min – max).`,
      "",
      markdownTable(
        ["command", "daemon", "bctr ms", "Go ctr ms", "bctr / ctr"],
        rows.map((r) => [
          label[r.command],
          r.daemon,
          cell(r.bctr),
          cell(r.ctr),
          fmt(r.bctr.median / r.ctr.median, 2),
        ]),
      ),
      "",
    ].join("\n"),
  );
}
